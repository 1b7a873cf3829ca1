// Which llama.cpp runs, as a user sees it in the model panel (npm run serve + Chromium): our
// patched build on the GPU backend it was built for (Vulkan on Mesa's llvmpipe here), never a
// stock prebuilt in its place; the Engine setting that switches to the stock build and back;
// and an architecture the head-level cache is not proven on, named, loading with the full cache.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './support/browser.ts';
import { ORGANISM } from './support/models.ts';
import { requiresNative, requiresVulkan } from './support/native.ts';
import { cachedRandomGguf } from './support/randomGguf.ts';
import { serve, stop, type Served } from './support/serve.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const results = path.join(root, 'test-results');

function graniteModel(): Promise<string> {
    return cachedRandomGguf('granite-untested-v1.gguf', { architecture: 'granite', nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 96, contextLength: 4096, tensorType: 'f16', seed: 3 });
}

/** A served app with one model loaded, in a fresh Chromium page. */
async function open(model: string, args: string[], env: Record<string, string> = {}): Promise<{ served: Served; browser: Browser; page: Page }> {
    const served = await serve(['--model', model, '--port', '0', '--context', '2048', '--data-dir', await mkdtemp(path.join(os.tmpdir(), 'headroom-engine-')), ...args], env);
    const browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(served.url);
    await page.getByTestId('model-card').waitFor({ timeout: 60_000 });
    return { served, browser, page };
}

const vulkan = await requiresVulkan();

describe('the engine the model panel names', requiresNative(), () => {
    before(() => mkdir(results, { recursive: true }));

    describe('on the GPU (our Vulkan build on Mesa\'s llvmpipe)', vulkan, () => {
        let app: Awaited<ReturnType<typeof open>>;
        before(async () => {
            app = await open(ORGANISM, ['--kv', '0.5'], { GGML_VK_VISIBLE_DEVICES: '0' });
        });
        after(async () => {
            await app?.browser.close();
            if (app != null) await stop(app.served.child);
        });

        test('compresses on the Vulkan device: our build was chosen over the stock Vulkan prebuilt', async () => {
            const { page } = app;
            assert.equal(await page.getByTestId('runs-on').textContent(), 'Vulkan');
            assert.equal(await page.getByTestId('kv-compression').textContent(), 'On (head-level)');
            assert.equal(await page.getByTestId('engine-note').count(), 0, 'nothing to fix');
            await page.screenshot({ path: path.join(results, 'engine-vulkan.png') });
        });

        test('Engine "stock" runs node-llama-cpp\'s build without compression, and "compressed" brings ours back', async () => {
            const { page } = app;
            await page.locator('#setting-engine').selectOption('stock');
            await page.getByTestId('engine-stock').waitFor({ timeout: 60_000 });
            assert.equal(await page.getByTestId('kv-compression').textContent(), 'Unavailable');
            assert.match(await page.getByTestId('engine-stock').textContent() ?? '', /^The stock llama\.cpp runs, as chosen in Settings \(Engine\): no head-level compression\.Compress again$/);
            assert.equal(await page.getByTestId('engine-note').count(), 0, 'no advice to build what was not wanted');
            await page.screenshot({ path: path.join(results, 'engine-stock.png') });
            await page.getByRole('button', { name: 'Compress again' }).click();
            await page.getByTestId('kv-compression').filter({ hasText: 'On (head-level)' }).waitFor({ timeout: 60_000 });
            assert.equal(await page.getByTestId('runs-on').textContent(), 'Vulkan');
        });
    });

    describe('an architecture the head-level cache is not proven on (granite)', () => {
        let app: Awaited<ReturnType<typeof open>>;
        before(async () => {
            app = await open(await graniteModel(), ['--kv', '0.5']);
        });
        after(async () => {
            await app?.browser.close();
            if (app != null) await stop(app.served.child);
        });

        test('the model panel names the architecture and why, and the model loads with the full cache', async () => {
            const { page } = app;
            assert.equal(await page.getByTestId('kv-compression').textContent(), 'Unavailable');
            assert.equal(await page.getByTestId('kv-unavailable').textContent(),
                'Head-level KV compression has not been tested on the granite architecture yet; the full cache is used.');
            await page.getByLabel('Message').fill('Hello');
            await page.keyboard.press('Enter');
            await page.getByTestId('message-assistant').last().waitFor();
            await page.screenshot({ path: path.join(results, 'engine-untested-architecture.png') });
        });
    });
});
