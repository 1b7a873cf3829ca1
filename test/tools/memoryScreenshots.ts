// Regenerates docs/memory-gauges.png, docs/settings-panel.png and docs/head-map.png:
//   node test/tools/memoryScreenshots.ts
// The app in web mode with organism.gguf mid-reply, and the head map of a recorded 80-layer plan.
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryPlan } from '../../common/plan.ts';
import { launchChromium } from '../support/browser.ts';
import { startHarness } from '../support/componentHarness.ts';
import { ORGANISM } from '../support/models.ts';
import { serve, stop } from '../support/serve.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const docs = path.join(root, 'docs');
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-shots-'));

const served = await serve(['--model', ORGANISM, '--port', '0', '--data-dir', dataDir]);
const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
await page.goto(served.url);
await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).waitFor({ timeout: 60_000 });
await page.getByLabel('Message').fill('Describe the license of this package in detail.');
await page.keyboard.press('Enter');
await page.waitForFunction(() => document.querySelector('[data-testid="memory-gauges"]')?.getAttribute('data-generating') === 'true');
await page.waitForTimeout(1500);
await page.screenshot({ path: path.join(docs, 'memory-gauges.png') });
await page.getByRole('button', { name: 'Stop' }).click();
await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).waitFor();

// The settings panel with a pending reload and a refused value.
await page.locator('#setting-contextSize').fill('2048');
await page.locator('#setting-contextSize').press('Enter');
await page.getByTestId('reload-banner').waitFor();
await page.locator('#setting-kvBudget').fill('150');
await page.locator('#setting-kvBudget').press('Enter');
await page.getByTestId('setting-error-kvBudget').waitFor();
await page.setViewportSize({ width: 1440, height: 2000 });
await page.locator('section[aria-labelledby="settings-heading"]').screenshot({ path: path.join(docs, 'settings-panel.png') });
await browser.close();
await stop(served.child);

const harness = await startHarness();
const plan = MemoryPlan.parse(JSON.parse(await readFile(path.join(root, 'test', 'fixtures', 'memory', 'plan-80-layers.json'), 'utf8')));
const map = await harness.open({ component: 'headMap', kv: plan.kv }, { width: 362, height: 520 });
await map.getByTestId('head-cell').nth(12 * 8 + 3).hover();
await map.locator('#root').screenshot({ path: path.join(docs, 'head-map.png') });
await harness.close();
console.log(`wrote memory-gauges.png, settings-panel.png and head-map.png into ${docs}`);
