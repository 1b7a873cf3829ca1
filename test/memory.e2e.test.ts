// Memory end to end in web mode: organism.gguf served by `npm run serve`, the page in
// Chromium; the gauges move while a reply streams, the planner sits next to what llama.cpp
// allocated, and settings are validated, persisted and applied by a reload.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DatabaseSync } from 'node:sqlite';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './support/browser.ts';
import { ORGANISM } from './support/models.ts';
import { requiresNative } from './support/native.ts';
import { serve, stop, type Served } from './support/serve.ts';

const results = fileURLToPath(new URL('../test-results/', import.meta.url));

/** The tokens a context gauge says are used ("1,234 of 2,048 tokens"). */
const tokensOf = (text: string | null) => Number((text ?? '').split(' ')[0]?.replace(/,/g, ''));

declare global {
    var contextReadings: Array<{ at: number; text: string; generating: boolean }>;
}

describe('memory in web mode (organism.gguf, Chromium)', () => {
    let served: Served;
    let browser: Browser;
    let page: Page;
    let dataDir: string;
    /** A setting as the app saved it in its SQLite database. */
    const saved = (key: string): unknown => {
        const db = new DatabaseSync(path.join(dataDir, 'headroom.sqlite'), { readOnly: true });
        try {
            const row = db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined;
            return row == null ? undefined : JSON.parse(row.value);
        } finally {
            db.close();
        }
    };

    before(async () => {
        dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-e2e-memory-'));
        // Profiles go to a folder of this test's own, not the user's.
        served = await serve(['--model', ORGANISM, '--port', '0', '--data-dir', dataDir], { HEADROOM_PROFILE_DIR: path.join(dataDir, 'head-profiles') });
        browser = await launchChromium();
        page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
        await mkdir(results, { recursive: true });
        await page.goto(served.url);
        await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).waitFor({ timeout: 60_000 });
    });

    after(async () => {
        await browser?.close();
        if (served != null) await stop(served.child);
    });

    test('after loading: gauges, head map, and the planner next to what llama.cpp allocated', async () => {
        assert.equal(await page.getByTestId('gauge-gpu-value').textContent(), 'No GPU: the model runs on the CPU.');
        assert.equal(await page.getByTestId('gauge-context-value').textContent(), '0 of 4,096 tokens');
        // 4 layers × 4 KV heads × 4,096 cells × 16+16 values × 2 bytes.
        assert.equal(await page.getByTestId('gauge-kv-device-value').textContent(), '4.0 MiB · GPU 0 B · RAM 4.0 MiB');
        assert.equal(await page.getByTestId('head-cell').count(), 16);
        // The stock cache keeps every head full; the compression test below sees both policies.
        const policies = new Set(await page.getByTestId('head-cell').evaluateAll((cells) => cells.map((c) => c.getAttribute('data-policy'))));
        assert.deepEqual([...policies], ['full']);
        await page.getByTestId('planner-fits').filter({ hasText: 'Fits this machine' }).waitFor();
        await page.getByTestId('planner-actual').waitFor();
        assert.match((await page.getByTestId('actual-kv-cache').textContent() ?? ''), /^KV cache4\.0 MiB4\.0 MiB±0%$/);
    });

    test('while a reply streams, the gauges move several times a second', async () => {
        await page.evaluate(() => {
            globalThis.contextReadings = [];
            const target = document.querySelector('[data-testid="gauge-context-value"]');
            if (target == null) throw new Error('no context gauge');
            new MutationObserver(() => contextReadings.push({
                at: performance.now(), text: target.textContent ?? '',
                generating: document.querySelector('[data-testid="memory-gauges"]')?.getAttribute('data-generating') === 'true',
            })).observe(target, { characterData: true, childList: true, subtree: true });
        });
        // Outside its passkey task the organism writes documentation until stopped.
        await page.getByLabel('Message').fill('Describe the license of this package in detail.');
        await page.keyboard.press('Enter');
        await page.getByTestId('engine-status').filter({ hasText: 'Generating' }).waitFor();
        await page.waitForFunction(() => contextReadings.filter((r) => r.generating).length >= 6, undefined, { timeout: 30_000 });
        await page.screenshot({ path: path.join(results, 'memory-gauges.png') });
        const speed = await page.getByTestId('gauge-speed-value').textContent();
        // Escape, not a click on Stop: should the reply already have filled the context, it does
        // nothing, and the reply is kept either way ("Stopped", or "Stopped: the context is full").
        await page.getByLabel('Message').press('Escape');
        await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).waitFor();
        await page.getByTestId('message-assistant').last().locator('.message-meta').filter({ hasText: /^Stopped/ }).waitFor();

        const live = (await page.evaluate(() => contextReadings)).filter((r) => r.generating);
        const [first, last] = [live[0], live.at(-1)];
        assert.ok(first != null && last != null, 'the gauges changed while it generated');
        const perSecond = (live.length - 1) / ((last.at - first.at) / 1000);
        assert.ok(perSecond >= 2, `the context gauge changed ${perSecond.toFixed(1)} times a second`);
        const used = live.map((r) => tokensOf(r.text));
        assert.ok(used.every((n, i) => i === 0 || n >= (used[i - 1] ?? n)) && tokensOf(last.text) > tokensOf(first.text), `context use grows: ${used.join(', ')}`);
        assert.match(speed ?? '', /^\d+\.\d tokens\/s$/);
        await page.getByTestId('memory-gauges').and(page.locator('[data-generating="false"]')).waitFor();
    });

    test('settings: a bad value is refused and kept; a good one is saved and applied by a reload', async () => {
        await page.locator('#setting-contextSize').fill('2048');
        await page.locator('#setting-contextSize').press('Enter');
        await page.getByTestId('reload-banner').waitFor();
        const windowBox = page.locator('#setting-window');
        await windowBox.fill('8000');
        await windowBox.press('Enter');
        assert.match((await page.getByTestId('setting-error-window').textContent() ?? ''), /smaller than the context \(2048 tokens\)/);
        // The box goes back to the kept value a render after the refusal shows.
        await page.waitForFunction(() => (document.querySelector('#setting-window') as HTMLInputElement).value === '128', undefined, { timeout: 5_000 }).catch(() => {});
        assert.equal(await windowBox.inputValue(), '128');
        await page.locator('#setting-appearance').selectOption('dark');
        await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
        await page.screenshot({ path: path.join(results, 'settings-panel.png'), clip: { x: 0, y: 0, width: 300, height: 900 } });

        assert.equal(saved('settings.contextSize'), 2048);
        assert.equal(saved('settings.window'), undefined, 'the refused window was never saved');

        await page.getByRole('button', { name: 'Reload model' }).click();
        await page.getByTestId('gauge-context-value').filter({ hasText: 'of 2,048 tokens' }).waitFor({ timeout: 60_000 });
        await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).waitFor();
        assert.equal(await page.getByTestId('reload-banner').count(), 0, 'nothing waits for a reload any more');
        assert.match((await page.getByTestId('model-card').textContent() ?? ''), /2,048 tokens/);
        await page.getByTestId('actual-kv-cache').filter({ hasText: /^KV cache2\.0 MiB2\.0 MiB±0%$/ }).waitFor();
        await page.locator('#setting-appearance').selectOption('system');
    });

    test('compression at a 25% budget: the head map shows full and streaming heads, the KV gauge shrinks, the gauges move while it generates until the context is full', requiresNative(), async () => {
        await page.locator('#setting-kvMode').selectOption('budget');
        await page.locator('#setting-kvBudget').fill('25');
        await page.locator('#setting-kvBudget').press('Enter');
        await page.waitForFunction(() => (document.querySelector('#setting-kvBudget') as HTMLInputElement).value === '25');
        await page.getByRole('button', { name: 'Reload model' }).click();
        // Reloaded with these settings: the banner goes, and the model card says compression is on.
        await page.getByTestId('reload-banner').waitFor({ state: 'detached', timeout: 60_000 });
        await page.getByTestId('model-card').filter({ hasText: 'On (head-level)' }).waitFor({ timeout: 60_000 });
        await page.waitForFunction(() => new Set([...document.querySelectorAll('[data-testid="head-cell"]')].map((c) => c.getAttribute('data-policy'))).size === 2, undefined, { timeout: 30_000 });
        const policies = await page.getByTestId('head-cell').evaluateAll((cells) => cells.map((c) => c.getAttribute('data-policy')));
        // A quarter of 16 heads × 2,048 cells, with streaming heads holding 288 cells (4 + 128 +
        // 128, padded): 2 full heads + 14 streaming, 64 bytes a cell, 508 KiB of the stock 2 MiB.
        assert.equal(policies.filter((p) => p === 'full').length, 2, policies.join(' '));
        await page.getByTestId('gauge-kv-device-value').filter({ hasText: /^50\d KiB/ }).waitFor();

        // A reply on the compressed cache, in a chat of its own: the live gauges follow it.
        await page.getByRole('button', { name: '+ New' }).click();
        const context = page.getByTestId('gauge-context-value');
        const start = await context.textContent();
        await page.getByLabel('Message').fill('Describe the license of this package in detail.');
        await page.keyboard.press('Enter');
        await page.getByTestId('engine-status').filter({ hasText: 'Generating' }).waitFor();
        const moved = async (from: string | null) => page.waitForFunction((text) => document.querySelector('[data-testid="gauge-context-value"]')?.textContent !== text, from, { timeout: 30_000 });
        await moved(start);
        const middle = await context.textContent();
        await moved(middle);
        await page.screenshot({ path: path.join(results, 'memory-head-map-compressed.png') });
        // Left alone, the reply runs until the 2,048-token context is full, and says so.
        const note = page.getByTestId('message-assistant').last().locator('.message-meta');
        await note.filter({ hasText: 'Stopped: the context is full.' }).waitFor({ timeout: 120_000 });
        await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).waitFor();
        await page.getByTestId('message-assistant').last().screenshot({ path: path.join(results, 'chat-context-full.png') });
        assert.match((await page.getByTestId('gauge-speed-value').textContent() ?? ''), /^\d+\.\d tokens\/s$/);
        const used = tokensOf(await context.textContent());
        assert.ok(used > tokensOf(middle), 'the context filled as the reply streamed');
        assert.ok(used > 2048 - 32, `nearly every cell is used (${used})`);

        await page.locator('#setting-kvMode').selectOption('off');
        await page.getByRole('button', { name: 'Reload model' }).click();
        await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).waitFor({ timeout: 60_000 });
    });

    test('profile heads: its stage and progress, then the best heads and the validated count kept full', async () => {
        await page.getByRole('button', { name: 'Profile heads' }).click();
        await page.getByTestId('profile-progress').filter({ hasText: /(Scoring heads|Checking budgets on held-out prompts) · \d+%/ }).waitFor({ timeout: 60_000 });
        await page.getByTestId('profile-heads').screenshot({ path: path.join(results, 'profile-heads-running.png') });
        const result = page.getByTestId('profile-result');
        await result.waitFor({ timeout: 300_000 });
        await page.locator('.memory-aside').screenshot({ path: path.join(results, 'profile-heads-done.png') });
        assert.match((await result.textContent() ?? ''), /^Profile saved: top heads L3·H1 \(0\.\d\d\).*; keeps the \d+ best of 16 heads full at any context length \(\d+% of the cache at [\d,]+ tokens\), checked on held-out prompts at [\d,]+ tokens/);
        assert.ok(existsSync(path.join(dataDir, 'head-profiles')), 'stored in the profile folder');
        assert.equal(await page.getByRole('button', { name: 'Profile heads' }).count(), 1, 'ready to run again');
    });

    test('fit to my machine: the largest context that fits becomes the setting', async () => {
        await page.getByRole('button', { name: 'Fit: largest context' }).click();
        const fit = page.getByTestId('planner-fit');
        await fit.filter({ hasText: 'The largest context that fits is 4,096 tokens (all the model was trained for).' }).waitFor();
        await fit.getByRole('button', { name: 'Use these settings' }).click();
        await page.getByTestId('reload-banner').waitFor();
        assert.equal(await page.locator('#setting-contextSize').inputValue(), '4096');
        assert.equal(saved('settings.contextSize'), 4096);
    });
});
