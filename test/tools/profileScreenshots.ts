// Regenerates docs/profile-offer.png, docs/profile-heads.png and docs/test-recall.png:
//   node test/tools/profileScreenshots.ts
// The app in web mode with organism.gguf on a fresh settings file and profile folder: the card's
// offer to profile the heads, the profile once measured, and Test recall's heatmaps.
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../support/browser.ts';
import { ORGANISM } from '../support/models.ts';
import { serve, stop } from '../support/serve.ts';

const docs = fileURLToPath(new URL('../../docs/', import.meta.url));
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-shots-'));

const served = await serve(['--model', ORGANISM, '--port', '0', '--data-dir', dataDir, '--context', '2048'], { HEADROOM_PROFILE_DIR: path.join(dataDir, 'head-profiles') });
const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1440, height: 1100 } });
await page.goto(served.url);
await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).waitFor({ timeout: 60_000 });
const offer = page.getByTestId('profile-offer');
await offer.filter({ hasText: / here / }).waitFor({ timeout: 60_000 });
await page.locator('section[aria-labelledby="model-heading"]').screenshot({ path: path.join(docs, 'profile-offer.png') });

await offer.getByRole('button', { name: 'Profile heads' }).click();
await page.getByTestId('profile-result').waitFor({ timeout: 300_000 });
await page.getByRole('button', { name: 'Reload to compress' }).click();
await page.getByTestId('kv-compression').filter({ hasText: 'On (head-level)' }).waitFor({ timeout: 60_000 });
await page.locator('section[aria-labelledby="heads-heading"]').screenshot({ path: path.join(docs, 'profile-heads.png') });

await page.getByRole('button', { name: 'Test recall' }).click();
await page.getByTestId('recall-summary').waitFor({ timeout: 300_000 });
await page.locator('section[aria-labelledby="heads-heading"]').screenshot({ path: path.join(docs, 'test-recall.png') });
await browser.close();
await stop(served.child);
console.log(`wrote profile-offer.png, profile-heads.png and test-recall.png into ${docs}`);
