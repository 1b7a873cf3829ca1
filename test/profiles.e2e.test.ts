// Compression on by default, end to end in Chromium on organism.gguf: a fresh install loads the
// model on the full cache and offers Profile heads with a time estimate; profiling shows its
// progress and can be cancelled; once profiled, a reload runs compressed and says whose profile
// it is; Test recall draws full cache against the plan as the niah heatmaps, and says how many
// follow-up questions (the eval's multi-query task) each cache answered.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { openApp, results, type OpenApp } from './support/app.ts';
import { ORGANISM } from './support/models.ts';
import { requiresNative } from './support/native.ts';

describe('compression on by default: profile heads and test recall (organism.gguf, Chromium)', requiresNative(), () => {
    let app: OpenApp | undefined;
    let page: Page;
    let profiles: string;

    before(async () => {
        const dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-e2e-profiles-'));
        profiles = path.join(dataDir, 'head-profiles');
        // A fresh settings file: no --kv, so compression is the default's ("auto").
        app = await openApp(['--model', ORGANISM, '--port', '0', '--data-dir', dataDir, '--context', '2048'], { HEADROOM_PROFILE_DIR: profiles }, { width: 1440, height: 1000 });
        page = app.page;
    });

    after(async () => {
        await app?.close();
    });

    test('a model without a head profile runs the full cache, and its card offers Profile heads with the time it takes here', async () => {
        assert.equal(await page.locator('#setting-kvMode').inputValue(), 'auto');
        const help = await page.getByTestId('setting-kvMode').textContent() ?? '';
        assert.match(help, /A model with a head profile .* runs compressed/);
        assert.match(help, /A model without one runs on the full cache until you profile its heads/);
        assert.equal(await page.getByTestId('kv-compression').textContent(), 'Off until profiled');
        assert.equal(await page.getByTestId('head-profile').textContent(), 'None yet');
        const offer = page.getByTestId('profile-offer');
        await offer.filter({ hasText: /Profiling its heads takes (under a minute|about \d+ minutes?) here/ }).waitFor({ timeout: 30_000 });
        const policies = new Set(await page.getByTestId('head-cell').evaluateAll((cells) => cells.map((c) => c.getAttribute('data-policy'))));
        assert.deepEqual([...policies], ['full']);
        await page.locator('.sidebar').screenshot({ path: path.join(results, 'profile-offer.png') });
    });

    test('profiling shows its stage and progress, and a cancel stops it with nothing stored', async () => {
        const offer = page.getByTestId('profile-offer');
        await offer.getByRole('button', { name: 'Profile heads' }).click();
        await page.getByTestId('profile-progress').filter({ hasText: /(Scoring heads|Checking budgets on held-out prompts) · \d+%/ }).waitFor({ timeout: 60_000 });
        await offer.getByRole('button', { name: 'Cancel' }).click();
        await page.getByTestId('profile-cancelled').waitFor({ timeout: 30_000 });
        const stored = existsSync(profiles) ? readdirSync(profiles).filter((name) => name.endsWith('.json')) : [];
        assert.deepEqual(stored, [], 'nothing stored');
        assert.match(await page.getByTestId('engine-status').textContent() ?? '', /^Ready/, 'the chat engine never noticed');
    });

    test('profiled, then reloaded: compressed with the measured profile, said on the card', async () => {
        const offer = page.getByTestId('profile-offer');
        await offer.getByRole('button', { name: 'Profile heads' }).click();
        await page.getByTestId('profile-progress').waitFor();
        await page.locator('.sidebar').screenshot({ path: path.join(results, 'profile-running.png') });
        const result = page.getByTestId('profile-result');
        await result.waitFor({ timeout: 300_000 });
        assert.match(await result.textContent() ?? '', /^Profile saved: top heads L3·H1 \(0\.\d\d\).*; keeps the \d+ best of 16 heads full at any context length \(\d+% of the cache at 2,048 tokens\), checked on held-out prompts at 2,048 tokens/);
        await result.getByRole('button', { name: 'Reload to compress' }).click();
        await page.getByTestId('kv-compression').filter({ hasText: 'On (head-level)' }).waitFor({ timeout: 60_000 });
        assert.match(await page.getByTestId('head-profile').textContent() ?? '', /^Measured on this machine \(attention scores, validated at 2,048 tokens\)$/);
        assert.equal(await page.getByTestId('profile-offer').count(), 0, 'no offer once profiled');
        await page.waitForFunction(() => new Set([...document.querySelectorAll('[data-testid="head-cell"]')].map((c) => c.getAttribute('data-policy'))).size === 2, undefined, { timeout: 30_000 });
        await page.getByTestId('profile-heads').getByRole('button', { name: 'Profile heads again' }).waitFor();
    });

    test('Test recall runs a short needle-in-a-haystack and follow-up questions with both caches, draws the heatmaps and says the follow-ups', async () => {
        await page.getByRole('button', { name: 'Test recall' }).click();
        // per cache: 3 lengths × 3 depths of needles, then a chat of 4 follow-up questions at each length
        await page.getByTestId('recall-progress').filter({ hasText: /Testing recall \d+ \/ 42/ }).waitFor({ timeout: 60_000 });
        await page.getByTestId('recall-progress').filter({ hasText: /Testing recall \d+ \/ 42 · (full cache|compressed), [\d,]+ tokens, follow-ups/ }).waitFor({ timeout: 300_000 });
        const summary = page.getByTestId('recall-summary');
        await summary.waitFor({ timeout: 300_000 });
        assert.match(await summary.textContent() ?? '', /^Needles found: full cache \d+%, compressed \d+%\.$/);
        assert.match(await page.getByTestId('recall-follow-ups').textContent() ?? '',
            /^Follow-up questions answered: full cache \d+%, compressed \d+% \(3 chats, 4 questions each, asked in turn about one document\)\.$/);
        const maps = page.getByTestId('recall-heatmap');
        assert.deepEqual(await maps.evaluateAll((figures) => figures.map((f) => f.getAttribute('data-cache'))), ['full', 'compressed']);
        // The same drawing as `npm run niah`: 3 depths × 3 lengths, a cell per length and depth.
        const drawn = await maps.first().locator('img').evaluate(async (img: HTMLImageElement) => {
            await img.decode();
            const svg = decodeURIComponent(img.src.slice(img.src.indexOf(',') + 1));
            return { width: img.naturalWidth, cells: (svg.match(/<rect x="\d+" y="\d+" width="72" height="72"/g) ?? []).length, svg };
        });
        assert.ok(drawn.width > 300, `the heatmap image decoded (${drawn.width} px)`);
        assert.equal(drawn.cells, 9);
        assert.match(drawn.svg, /context length \(tokens\)/);
        await page.locator('.memory-aside').screenshot({ path: path.join(results, 'test-recall.png') });
        await maps.nth(1).getByRole('button').click();
        await page.locator('.recall-dialog[open] img').waitFor();
        await page.screenshot({ path: path.join(results, 'test-recall-dialog.png') });
        await page.keyboard.press('Escape');
        await page.locator('.recall-dialog[open]').waitFor({ state: 'detached' });
    });
});
