// The Models view end to end: `npm run serve` under a home folder holding models in each app's
// layout (test/support/modelStores.ts), the page in Chromium. The local models are listed where
// they are and open in place; the catalog shows each model's fit on this machine; a model
// downloaded from a loopback URL shows its progress and ends loaded. All from the keyboard.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { MODEL_ORIGIN_LABELS, supportsHeadwise } from '../common/models.ts';
import { CATALOG } from '../backend/models/service.ts';
import { launchChromium } from './support/browser.ts';
import { startModelServer, type ModelServer } from './support/modelServer.ts';
import { buildModelStores, type ModelStores } from './support/modelStores.ts';
import { ORGANISM } from './support/models.ts';
import { serve, stop, type Served } from './support/serve.ts';

const results = fileURLToPath(new URL('../test-results/', import.meta.url));
/** The variables that would move the apps' folders away from the test's home. */
const homeOnly = (home: string) => ({ HOME: home, XDG_DATA_HOME: '', XDG_CACHE_HOME: '', HF_HOME: '', HF_HUB_CACHE: '', OLLAMA_MODELS: '' });

describe('the Models view in web mode (Chromium)', () => {
    let stores: ModelStores;
    let files: ModelServer;
    let served: Served;
    let browser: Browser;
    let page: Page;

    before(async () => {
        stores = await buildModelStores();
        files = await startModelServer();
        files.route('/files/organism-download.gguf', { file: ORGANISM });
        const dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-e2e-models-'));
        served = await serve(['--port', '0', '--data-dir', dataDir], homeOnly(stores.home));
        browser = await launchChromium();
        page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
        await mkdir(results, { recursive: true });
        await page.goto(served.url);
        await page.getByTestId('engine-status').filter({ hasText: 'No model loaded' }).waitFor({ timeout: 60_000 });
    });

    after(async () => {
        await browser?.close();
        if (served != null) await stop(served.child);
        await files?.close();
        if (stores != null) await rm(stores.home, { recursive: true, force: true });
    });

    test('Ctrl+Shift+M opens the view: every local model, named and described, with where it came from', async () => {
        await page.keyboard.press('Control+Shift+M');
        await page.getByTestId('models-view').waitFor();
        const rows = page.getByTestId('local-model');
        await rows.nth(stores.expected.length - 1).waitFor({ timeout: 30_000 });
        assert.equal(await rows.count(), stores.expected.length);
        for (const model of stores.expected) {
            const row = rows.filter({ hasText: model.file });
            assert.equal(await row.count(), 1, model.name);
            const cells = await row.locator('td').allTextContents();
            assert.equal(await row.locator('.model-row-name').textContent(), model.name);
            assert.equal(cells[0], MODEL_ORIGIN_LABELS[model.origin]);
            assert.equal(cells[1], model.architecture);
            assert.equal(cells[2], model.quantization);
            assert.equal(cells[4], `${model.trainContextSize.toLocaleString('en-US')} tokens`);
            assert.equal(cells[5], supportsHeadwise(model.architecture) ? 'Head-level' : 'Full cache only');
        }
        await page.getByText(/^Looked in \d+ folders; skipped 3 files$/).click();
        assert.equal(await page.getByTestId('scan-note').count(), stores.broken.length);
        assert.match(await page.getByTestId('scan-note').filter({ hasText: 'broken:latest' }).textContent() ?? '', /manifest cannot be read/);
    });

    test('the catalog gives each model its longest context here, with and without compression', async () => {
        const entries = page.getByTestId('catalog-entry');
        await entries.nth(CATALOG.models.length - 1).getByTestId('verdict').waitFor({ timeout: 60_000 });
        assert.equal(await entries.count(), CATALOG.models.length);
        for (const model of CATALOG.models) {
            const entry = entries.filter({ hasText: model.uri });
            const verdict = await entry.getByTestId('verdict').getAttribute('aria-label') ?? '';
            assert.match(verdict, /^Full cache: (does not fit|[\d,]+ tokens); /, model.id);
            if (supportsHeadwise(model.architecture)) {
                assert.match(verdict, /; Compressed 50%: [\d,]+ tokens$/, model.id);
                const [full, compressed] = [...verdict.matchAll(/([\d,]+) tokens/g)].map((m) => Number(m[1]?.replace(/,/g, '')));
                assert.ok((compressed ?? 0) >= (full ?? 0), `${model.id}: compression fits at least as much (${full} → ${compressed})`);
            } else {
                assert.match(verdict, new RegExp(`; head-level compression does not support ${model.architecture} yet$`), model.id);
            }
            assert.equal(await entry.getByRole('button', { name: `Download ${model.name}` }).count(), 1);
        }
        await page.getByLabel('Filter models').fill('nemo');
        assert.equal(await entries.count(), 1);
        await page.keyboard.press('Escape');
        await page.getByLabel('Filter models').fill('');
        assert.equal(await entries.count(), CATALOG.models.length);
    });

    test('a bad address is refused under the box; a missing file fails with the reason and can be tried again', async () => {
        const box = page.getByLabel('Model address');
        await box.fill('models/llama.gguf');
        await box.press('Enter');
        assert.match(await page.getByRole('alert').filter({ hasText: 'not a model address' }).textContent() ?? '', /"models\/llama\.gguf" is not a model address: use hf:/);
        assert.equal(await box.getAttribute('aria-invalid'), 'true');
        await box.fill(files.url('/files/missing.gguf'));
        await box.press('Enter');
        const row = page.getByTestId('download').filter({ hasText: 'missing.gguf' });
        await row.and(page.locator('[data-status="failed"]')).waitFor();
        assert.match(await row.getByTestId('download-status').textContent() ?? '', /^Could not download http:\/\/127\.0\.0\.1:\d+\/files\/missing\.gguf: the server has no file there \(404 Not Found\)\.$/);
        await page.screenshot({ path: path.join(results, 'models-download-failed.png') });
        await row.getByRole('button', { name: 'Try again' }).click();
        await row.and(page.locator('[data-status="failed"]')).waitFor();
        assert.equal(await row.count(), 1, 'the new attempt takes the old one\'s place');
        await row.getByRole('button', { name: `Dismiss ${files.url('/files/missing.gguf')}` }).click();
        await row.waitFor({ state: 'detached' });
    });

    test('a model downloaded from a loopback URL shows its progress and ends loaded', async () => {
        files.setPace(1_000_000);
        const url = files.url('/files/organism-download.gguf');
        await page.getByLabel('Model address').fill(url);
        await page.keyboard.press('Enter');
        const row = page.getByTestId('download').filter({ hasText: 'organism-download.gguf' });
        await row.getByTestId('download-status').filter({ hasText: /^[\d.]+ MB of 4\.2 MB · [\d.]+ (MB|kB)\/s · \d+ s left$/ }).waitFor({ timeout: 30_000 });
        const value = Number(await row.getByRole('progressbar').getAttribute('aria-valuenow'));
        assert.ok(value > 0 && value < 100, `${value}% while downloading`);
        await page.screenshot({ path: path.join(results, 'models-downloading.png') });
        await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).filter({ hasText: 'Headroom retrieval organism' }).waitFor({ timeout: 60_000 });
        assert.equal(await row.getAttribute('data-status'), 'done');
        assert.match(await row.getByTestId('download-status').textContent() ?? '', /^Downloaded 4\.2 MB\.$/);
        assert.equal(await row.getByText('Loaded', { exact: true }).count(), 1);
        // The new file is listed with Headroom's own models, marked as the one loaded.
        const listed = page.getByTestId('local-model').filter({ hasText: path.join(stores.headroomFolder, 'organism-download.gguf') });
        await listed.getByText('Loaded', { exact: true }).waitFor();
        await page.screenshot({ path: path.join(results, 'models-view.png') });
    });

    test('the models folder is a setting: a relative path is refused, another folder is looked in at once', async () => {
        await page.getByTestId('models-folder').filter({ hasText: stores.headroomFolder }).waitFor();
        const box = page.locator('#setting-modelsFolder');
        await box.fill('models');
        await box.press('Enter');
        assert.match(await page.getByTestId('setting-error-modelsFolder').textContent() ?? '', /^Models folder: must be an absolute path\. The previous value is kept\.$/);
        const elsewhere = path.join(stores.home, 'elsewhere');
        await box.fill(elsewhere);
        await box.press('Enter');
        await page.getByTestId('models-folder').filter({ hasText: elsewhere }).waitFor();
        await page.getByTestId('local-model').filter({ hasText: stores.headroomFolder }).first().waitFor({ state: 'detached' });
        // Jan's link to Headroom's organism.gguf, listed once under Headroom before, is Jan's own now.
        assert.equal(await page.getByTestId('local-model').count(), stores.expected.filter((m) => m.origin !== 'headroom').length + 1);
        assert.equal(await page.getByTestId('local-model').filter({ hasText: 'organism-link' }).locator('td').first().textContent(), 'Jan');
        await box.fill('');
        await box.press('Enter');
        await page.getByTestId('models-folder').filter({ hasText: stores.headroomFolder }).waitFor();
        await page.getByTestId('local-model').filter({ hasText: stores.headroomFolder }).first().waitFor();
    });

    test('a model in another app\'s folder opens in place, from the keyboard', async () => {
        const lmStudio = stores.expected.find((m) => m.name === 'TheBloke/Stories-GGUF/stories260K');
        assert.ok(lmStudio != null);
        await page.getByRole('button', { name: `Open ${lmStudio.name}` }).focus();
        await page.keyboard.press('Enter');
        await page.getByTestId('models-view').waitFor({ state: 'detached' });
        await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).filter({ hasText: 'llama' }).waitFor({ timeout: 60_000 });
        assert.equal(await page.getByTestId('model-card').locator('.model-name').getAttribute('title'), lmStudio.file, 'loaded from where LM Studio keeps it');
    });

    test('Escape goes back to the chat', async () => {
        await page.getByRole('button', { name: 'Models…' }).click();
        await page.getByTestId('models-view').waitFor();
        await page.keyboard.press('Escape');
        await page.getByTestId('models-view').waitFor({ state: 'detached' });
        assert.equal(await page.getByLabel('Message').count(), 1);
    });
});
