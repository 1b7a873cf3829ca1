// The memory gauges, the head map, the planner and the settings panel rendered in real
// Chromium with data recorded from the real engine (test/tools/recordMemory.ts).
import assert from 'node:assert/strict';
import { readFile, mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MemoryStats } from '../common/contract.ts';
import { MemoryPlan } from '../common/plan.ts';
import { HeadroomError } from '../common/errors.ts';
import { KvMode, KvOffload } from '../common/kv/policy.ts';
import { EngineChoice, FlashAttention } from '../common/loadOptions.ts';
import { KvCacheType, quantizedCacheRefusal } from '../common/modelShape.ts';
import { Settings } from '../common/settings.ts';
import { SettingsService } from '../backend/settings.ts';
import { HeadroomDatabase } from '../backend/database.ts';
import { startHarness, type Harness } from './support/componentHarness.ts';

const fixtures = fileURLToPath(new URL('./fixtures/memory/', import.meta.url));
const results = fileURLToPath(new URL('../test-results/', import.meta.url));
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const load = async (name: string): Promise<unknown> => JSON.parse(await readFile(path.join(fixtures, name), 'utf8'));

describe('memory components in Chromium (recorded engine data)', () => {
    let harness: Harness;
    let generating: MemoryStats[];
    let answered: MemoryStats[];
    let budgetPlan: MemoryPlan;
    let deepPlan: MemoryPlan;
    let tooBig: MemoryPlan;

    before(async () => {
        await mkdir(results, { recursive: true });
        harness = await startHarness();
        // Parsing with the contract's schemas proves the recordings are what the engine sends.
        generating = MemoryStats.array().parse(await load('stats-generating.json'));
        answered = MemoryStats.array().parse(await load('stats-organism.json'));
        budgetPlan = MemoryPlan.parse(await load('plan-organism-budget.json'));
        deepPlan = MemoryPlan.parse(await load('plan-80-layers.json'));
        tooBig = MemoryPlan.parse(await load('plan-too-big.json'));
    });
    after(() => harness?.close());

    test('gauges: no GPU is said in words; KV labelled as computed; context and speed move as snapshots arrive', async () => {
        const page = await harness.open({ component: 'gauges', stats: generating, ramTotalBytes: budgetPlan.machine.ramTotal });
        assert.equal(await page.getByTestId('gauge-gpu-value').textContent(), 'No GPU: the model runs on the CPU.');
        assert.match((await page.getByTestId('gauge-kv-device').textContent() ?? ''), /Computed from the model's shape/);
        // 2 layers × 2 KV heads × 4096 cells × 128 bytes = 2 MiB, all in RAM.
        assert.equal(await page.getByTestId('gauge-kv-device-value').textContent(), '2.0 MiB · GPU 0 B · RAM 2.0 MiB');
        assert.equal(await page.getByTestId('gauge-context-value').textContent(), '0 of 4,096 tokens');
        assert.equal(await page.getByTestId('gauge-speed-value').textContent(), '—');
        const seen = new Set<string>();
        while (await page.evaluate(() => window.pushNext?.() ?? false)) {
            seen.add((await page.getByTestId('gauge-context-value').textContent() ?? ''));
            assert.match((await page.getByTestId('gauge-speed-value').textContent() ?? ''), /^\d+\.\d tokens\/s$/);
        }
        assert.ok(seen.size >= 4, `the context gauge moved through ${[...seen].join(' → ')}`);
        const fill = await page.getByTestId('gauge-context').locator('.gauge-fill').evaluate((el) => (el as HTMLElement).style.width);
        assert.ok(Number.parseFloat(fill) > 0, 'the bar grew');
        await page.screenshot({ path: path.join(results, 'gauges.png') });
    });

    test('gauges: a GPU machine shows used of total', async () => {
        // The recorded snapshot with the GPU part as a CUDA machine reports it (no GPU here).
        const last = answered.at(-1);
        assert.ok(last != null);
        const onGpu = { ...last, gpu: { available: true as const, kind: 'cuda', totalBytes: 8 * 2 ** 30, usedBytes: 3 * 2 ** 30 } };
        const page = await harness.open({ component: 'gauges', stats: [onGpu] });
        assert.equal(await page.getByTestId('gauge-gpu-value').textContent(), '3.0 GiB of 8.0 GiB');
        assert.match((await page.getByTestId('gauge-gpu').textContent() ?? ''), /CUDA/);
    });

    test('head map: organism with a 30% budget at 4,096 tokens shows both policies, the retrieval head kept full', async () => {
        const page = await harness.open({ component: 'headMap', kv: budgetPlan.kv });
        const cells = page.getByTestId('head-cell');
        assert.equal(await cells.count(), 16);
        assert.ok(await page.locator('[data-policy="full"]').count() >= 1);
        assert.ok(await page.locator('[data-policy="streaming"]').count() >= 1);
        // Layer 3, KV head 1: the organism's retrieval head.
        const retrieval = cells.nth(3 * 4 + 1);
        assert.equal(await retrieval.getAttribute('data-policy'), 'full');
        await retrieval.hover();
        const tooltip = page.getByTestId('head-tooltip');
        assert.match((await tooltip.textContent() ?? ''), /Layer 3, KV head 1.*Full: keeps every token.*In CPU RAM.*Profile score: 0\.310/);
        assert.match((await page.locator('.head-legend').textContent() ?? ''), /full \(\d+\).*streaming \(\d+\)/);
        await page.screenshot({ path: path.join(results, 'head-map-4.png') });
    });

    test('head map: 80 layers × 8 KV heads stay readable in the same space', async () => {
        const page = await harness.open({ component: 'headMap', kv: deepPlan.kv });
        assert.equal(await page.getByTestId('head-cell').count(), 640);
        const box = await page.locator('.head-map svg').boundingBox();
        assert.ok(box != null && box.height <= 420, `the map is ${box?.height}px tall`);
        const cell = await page.getByTestId('head-cell').first().boundingBox();
        assert.ok(cell != null && cell.height >= 3.5 && cell.width >= 20, `cells are ${cell?.width}×${cell?.height}`);
        const labels = await page.locator('.head-map-label').allTextContents();
        assert.ok(labels.includes('70') && !labels.includes('71'), 'every 10th layer is labelled');
        await page.getByTestId('head-cell').nth(79 * 8 + 7).hover();
        assert.match((await page.getByTestId('head-tooltip').textContent() ?? ''), /Layer 79, KV head 7/);
        await page.screenshot({ path: path.join(results, 'head-map-80.png') });
    });

    test('planner: predicted memory, fits or not, fit buttons, predicted next to actual', async () => {
        const loaded = answered.at(-1)?.loaded ?? null;
        const page = await harness.open({ component: 'planner', plan: budgetPlan, loaded });
        assert.equal(await page.getByTestId('planner-fits').textContent(), 'Fits this machine');
        assert.match((await page.getByTestId('memory-planner').textContent() ?? ''), /30% cache budget/);
        assert.match((await page.getByTestId('actual-kv-cache').textContent() ?? ''), /KV cache2\.0 MiB2\.0 MiB±0%/);
        await page.getByRole('button', { name: 'Fit: largest context' }).click();
        await page.getByRole('button', { name: 'Fit: least compression' }).click();
        assert.deepEqual(await page.evaluate(() => window.harnessEvents), ['fit:context', 'fit:compression']);
        await page.screenshot({ path: path.join(results, 'planner.png') });

        const big = await harness.open({ component: 'planner', plan: tooBig, fit: { request: null, plan: null, message: 'Even the strongest compression does not fit: choose a shorter context or a smaller model.' } });
        assert.equal(await big.getByTestId('planner-fits').textContent(), 'Does not fit this machine');
        assert.match((await big.getByTestId('planner-notes').textContent() ?? ''), /Needs .* of RAM/);
        assert.match((await big.getByTestId('planner-fit').textContent() ?? ''), /strongest compression/);
    });

    test('settings: invalid values are refused with a message and the old value stays', async () => {
        const service = new SettingsService(new HeadroomDatabase(path.join(await mkdtemp(path.join(os.tmpdir(), 'headroom-ui-settings-')), 'headroom.sqlite')).settings);
        service.update({ contextSize: 4096 });
        service.markLoaded(service.settings);
        const page = await harness.open({ component: 'settings', state: service.state, modelLoaded: true, kvCacheTypes: ['f16'] });
        await page.exposeFunction('harnessUpdateSettings', (patch: Record<string, unknown>) => {
            try {
                return { ok: true, state: service.update(patch) };
            } catch (error) {
                return { ok: false, message: (error as HeadroomError).message };
            }
        });
        const windowBox = page.locator('#setting-window');
        await windowBox.fill('5000');
        await windowBox.press('Enter');
        await page.getByTestId('setting-error-window').waitFor();
        assert.match((await page.getByTestId('setting-error-window').textContent() ?? ''), /must be smaller than the context \(4096 tokens\).*previous value is kept/);
        assert.equal(await windowBox.inputValue(), '128', 'the box shows the kept value again');
        assert.equal(service.settings.window, 128);

        const budget = page.locator('#setting-kvBudget');
        await budget.fill('150');
        await budget.press('Enter');
        assert.match((await page.getByTestId('setting-error-kvBudget').textContent() ?? ''), /^Compression budget: must be at most 1 \(100%\)/);
        assert.equal(service.settings.kvBudget, 0.5);

        const context = page.locator('#setting-contextSize');
        await context.fill('-2');
        await context.press('Enter');
        assert.match((await page.getByTestId('setting-error-contextSize').textContent() ?? ''), /^Context size: /);
        assert.equal(service.settings.contextSize, 4096);

        assert.equal(await page.locator('#setting-kvCacheType option[value="q8_0"]').isDisabled(), true, 'q8_0 is offered only where the model supports it');
        assert.equal(await page.getByTestId('reload-banner').count(), 0);
        await page.locator('#setting-kvMode').selectOption('budget');
        await page.getByTestId('reload-banner').waitFor();
        assert.equal(await page.getByTestId('setting-kvMode').locator('.reload-tag').count(), 1);
        assert.equal(service.settings.kvMode, 'budget');
        await page.getByRole('button', { name: 'Reload model' }).click();
        assert.deepEqual(await page.evaluate(() => window.harnessEvents), ['reload']);
        await page.screenshot({ path: path.join(results, 'settings.png'), fullPage: true });
    });

    test('settings: the choices are the schemas\' options, and a quantized cache and flash attention off exclude each other in the rule\'s words', async () => {
        const service = new SettingsService(new HeadroomDatabase(path.join(await mkdtemp(path.join(os.tmpdir(), 'headroom-ui-choices-')), 'headroom.sqlite')).settings);
        const page = await harness.open({ component: 'settings', state: service.state, modelLoaded: false });
        await page.exposeFunction('harnessUpdateSettings', (patch: Record<string, unknown>) => {
            try {
                return { ok: true, state: service.update(patch) };
            } catch (error) {
                return { ok: false, message: (error as HeadroomError).message };
            }
        });
        const optionsOf = (id: string) => page.locator(`#setting-${id} option`).evaluateAll((options) => options.map((option) => (option as HTMLOptionElement).value));
        const schemas: Record<string, readonly string[]> = {
            engine: EngineChoice.options, flashAttention: FlashAttention.options, kvMode: KvMode.options, kvOffload: KvOffload.options,
            kvCacheType: KvCacheType.options, appearance: Settings.shape.appearance.options,
        };
        for (const [id, options] of Object.entries(schemas)) assert.deepEqual(await optionsOf(id), [...options], `${id} offers its schema's options`);

        await page.locator('#setting-flashAttention').selectOption('off');
        await page.locator('#setting-kvCacheType option[value="q8_0"][disabled]').waitFor({ state: 'attached' });
        assert.equal(service.settings.flashAttention, 'off');
        assert.equal(await page.locator('#setting-kvCacheType option[value="q8_0"]').textContent(), 'q8_0 (needs flash attention)');
        assert.equal(await page.locator('#setting-kvCacheType option[value="q4_0"]').isDisabled(), true);
        assert.equal(await page.locator('#setting-kvCacheType option[value="f16"]').isDisabled(), false);
        assert.match(await page.getByTestId('setting-kvCacheType').textContent() ?? '', new RegExp(escapeRegExp(quantizedCacheRefusal('q8_0', 'off') ?? '-')));

        await page.locator('#setting-flashAttention').selectOption('auto');
        await page.locator('#setting-kvCacheType').selectOption('q8_0');
        await page.locator('#setting-flashAttention option[value="off"][disabled]').waitFor({ state: 'attached' });
        assert.equal(service.settings.kvCacheType, 'q8_0');
        assert.equal(await page.locator('#setting-flashAttention option[value="off"]').textContent(), 'Off (not with a q8_0 cache)');
        assert.equal(await page.locator('#setting-flashAttention option[value="on"]').isDisabled(), false);
    });
});
