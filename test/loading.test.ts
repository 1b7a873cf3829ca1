// Loading, owned by the backend: a window asks for a model by path, the backend builds the load
// from the saved settings (the automatic context from the planner's Fit), sends it and records
// exactly what it sent; a load that fails says what is loaded afterwards. `ask` and `plan` check
// a load with the same rules. Real engine hosts, real llama.cpp, real SQLite, the real CLIs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { EngineState } from '../common/contract.ts';
import type { HeadroomError } from '../common/errors.ts';
import { KV_OFF } from '../common/kv/policy.ts';
import { contextCellsFor } from '../common/modelShape.ts';
import { LoadOverrides } from '../common/settings.ts';
import { contextOffers, offeredContext, tokensShort } from '../backend/contextOffers.ts';
import { openBackend } from './support/backend.ts';
import { haystackPdf, passkey } from './support/haystack.ts';
import { ORGANISM, STORIES } from './support/models.ts';
import { cachedRandomGguf } from './support/randomGguf.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const run = promisify(execFile);

async function freshBackend() {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-loading-'));
    return { dataDir, ...openBackend(dataDir) };
}

describe('the backend builds every load from the saved settings (organism.gguf)', () => {
    const opened: Array<{ dispose: () => void }> = [];
    after(() => opened.forEach((backend) => backend.dispose()));

    test('model.load with a path alone: the saved settings and the automatic context, recorded exactly as sent', async () => {
        const { backend, call } = await freshBackend();
        opened.push(backend);
        backend.settings.update({ kvMode: 'budget', kvBudget: 0.5, window: 64 });
        const info = await call('model.load', { path: ORGANISM });
        const { load } = await call('engine.getState', {});
        assert.ok(load != null);
        // organism is trained for 4,096 tokens and tiny: the longest context that fits here is all of it
        assert.equal(info.contextSize, 4096);
        assert.deepEqual(load.context, { source: 'automatic', tokens: 4096, summary: `Automatic: all 4,096 tokens the model was trained for fit here ${info.kv.active ? 'with compression' : 'with the full cache'}.` });
        assert.deepEqual(load.params, {
            path: ORGANISM, contextSize: 4096, gpuLayers: 'auto', flashAttention: 'auto', kvCacheType: 'f16',
            kv: { mode: 'budget', budget: 0.5, sinks: 4, window: 64, offload: 'auto' },
        });
        assert.deepEqual(load.settings, backend.settings.settings, 'built from the saved settings');
        assert.deepEqual(load.overrides, {});
        assert.deepEqual((await call('settings.get', {})).pendingReload, []);
    });

    test('a one-off override is used for that load only; the settings are not changed', async () => {
        const { backend, call } = await freshBackend();
        opened.push(backend);
        const info = await call('model.load', { path: ORGANISM, overrides: { contextSize: 1024, kvMode: 'off' } });
        assert.equal(info.contextSize, 1024);
        const { load } = await call('engine.getState', {});
        assert.deepEqual(load?.context, { source: 'override', tokens: 1024, summary: 'Chosen for this load; Settings say automatic.' });
        assert.equal(load.params.kv, undefined, 'compression off: no KV options are sent');
        assert.equal(backend.settings.settings.contextSize, null);
        assert.equal(backend.settings.settings.kvMode, 'auto');
    });

    test('a setting changed while the model loads is shown as waiting for a reload, not as applied', async () => {
        const { backend, call, events } = await freshBackend();
        opened.push(backend);
        const loading = new Promise<void>((resolve) => {
            const unsubscribe = backend.subscribe((event) => {
                if (event.name === 'engine.state' && event.payload.status === 'loading') {
                    unsubscribe();
                    resolve();
                }
            });
        });
        const load = call('model.load', { path: ORGANISM, overrides: { contextSize: 2048 } });
        await loading;
        await call('settings.update', { window: 256 });
        await load;
        const { load: sent } = await call('engine.getState', {});
        assert.equal(sent?.params.kv?.window, 128, 'the load was built before the change');
        assert.deepEqual((await call('settings.get', {})).pendingReload, ['window']);
        const last = events.filter((event) => event.name === 'settings.changed').at(-1);
        assert.deepEqual(last?.name === 'settings.changed' ? last.payload.pendingReload : null, ['window'], 'and the window was told so');
        // Reloading sends the change.
        await call('model.load', { path: ORGANISM, overrides: { contextSize: 2048 } });
        assert.equal((await call('engine.getState', {})).load?.params.kv?.window, 256);
        assert.deepEqual((await call('settings.get', {})).pendingReload, []);
    });

    test('the settings\' rules hold for the load as built: a window the automatic context cannot hold is refused in words', async () => {
        const { backend, call } = await freshBackend();
        opened.push(backend);
        backend.settings.update({ window: 8192 });
        await assert.rejects(call('model.load', { path: ORGANISM }), (error: HeadroomError) => error.code === 'INVALID_SETTINGS' && error.field === 'window'
            && /^Window: The window \(8192 tokens\) must be smaller than the context \(4096 tokens\)\. Automatic: all 4,096 tokens the model was trained for fit here with (compression|the full cache)\.$/.test(error.message));
        await assert.rejects(call('model.load', { path: ORGANISM, overrides: { kvCacheType: 'q8_0', flashAttention: 'off' } }),
            (error: HeadroomError) => error.code === 'INVALID_SETTINGS' && error.field === 'kvCacheType' && /needs flash attention/.test(error.message));
        assert.equal((await call('engine.getState', {})).model, null, 'nothing was sent');
    });
});

describe('a load that fails says what is loaded afterwards', () => {
    const opened: Array<{ dispose: () => void }> = [];
    let dir: string;
    after(async () => {
        opened.forEach((backend) => backend.dispose());
        if (dir != null) await rm(dir, { recursive: true, force: true });
    });

    const loadedPath = (state: EngineState) => state.model?.path ?? null;

    test('refused before anything was unloaded: the previous model is still loaded', async () => {
        const { backend, call } = await freshBackend();
        opened.push(backend);
        await call('model.load', { path: ORGANISM, overrides: { contextSize: 1024 } });
        const error = await call('model.load', { path: path.join(root, 'README.md') }).then(() => null, (e: HeadroomError) => e);
        assert.match(error?.message ?? '', /^Could not load README\.md: .* organism\.gguf is still loaded\.$/);
        const state = await call('engine.getState', {});
        assert.equal(loadedPath(state), ORGANISM);
        assert.equal(state.load?.params.contextSize, 1024, 'and the record is the previous load\'s');
    });

    test('a valid model whose context cannot be made (a cache type it cannot store): the previous one is loaded again, and the message says so', async () => {
        const { backend, call } = await freshBackend();
        opened.push(backend);
        await call('model.load', { path: ORGANISM, overrides: { contextSize: 1024 } });
        // stories260K's heads are 8 wide: a q8_0 cache stores rows in blocks of 32, so llama.cpp cannot make its context.
        const error = await call('model.load', { path: STORIES, overrides: { kvCacheType: 'q8_0', contextSize: 256 } }).then(() => null, (e: HeadroomError) => e);
        assert.ok(error != null, 'refused');
        assert.match(error.message, /q8_0.*organism\.gguf was unloaded to make room, and is loaded again\.$/s);
        const state = await call('engine.getState', {});
        assert.equal(state.status, 'ready');
        assert.equal(loadedPath(state), ORGANISM);
        assert.equal(state.load?.params.contextSize, 1024);
        assert.equal(state.error, null);
    });

    test('when the previous model cannot be loaded again either, the message says that no model is loaded', async () => {
        const { backend, call } = await freshBackend();
        opened.push(backend);
        dir = await mkdtemp(path.join(os.tmpdir(), 'headroom-loading-gone-'));
        const copy = path.join(dir, 'organism-copy.gguf');
        await copyFile(ORGANISM, copy);
        await call('model.load', { path: copy, overrides: { contextSize: 1024 } });
        await rm(copy); // loaded, then deleted: it cannot be loaded again
        const error = await call('model.load', { path: STORIES, overrides: { kvCacheType: 'q8_0', contextSize: 256 } }).then(() => null, (e: HeadroomError) => e);
        assert.match(error?.message ?? '', /organism-copy\.gguf was unloaded to make room and could not be loaded again \(No model file at .*organism-copy\.gguf\), so no model is loaded\.$/s);
        const state = await call('engine.getState', {});
        assert.equal(state.status, 'idle');
        assert.equal(state.model, null);
        assert.equal(state.load, null);
        assert.equal(state.error?.message, error?.message, 'the engine state says it too');
    });
});

describe('ask and plan load with the same rules and the same automatic context', () => {
    const cli = (script: string, args: string[]) => run('npm', ['run', '--silent', script, '--', ...args], { cwd: root, env: { ...process.env, HEADROOM_GPU: 'false' } })
        .then(({ stdout, stderr }) => ({ code: 0, stdout, stderr }), (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }));

    test('ask refuses what the settings panel refuses, before loading anything', async () => {
        const result = await cli('ask', ['--model', ORGANISM, '--question', 'x', '--context', '100', '--kv', '0.25']);
        assert.equal(result.code, 2);
        assert.equal(result.stdout, '');
        assert.match(result.stderr, /^headroom ask: --context must be at least 256\.$/m);
    });

    test('plan refuses it too', async () => {
        const result = await cli('plan', ['--model', ORGANISM, '--context', '100', '--kv', '0.25']);
        assert.equal(result.code, 2);
        assert.match(result.stderr, /^headroom plan: kv\.window: The window \(128 tokens\) must be smaller than the context \(100 tokens\); kv\.sinks: Sinks plus window must fit in the context\.$/m);
    });

    test('plan without --context plans the automatic context, as the app chooses it, and prints it as contextSize', async () => {
        const result = await cli('plan', ['--model', ORGANISM, '--kv', 'off']);
        assert.equal(result.code, 0, result.stderr);
        const output = JSON.parse(result.stdout) as { contextSize: number; context: { source: string; summary: string }; predicted: { fits: boolean } };
        assert.equal(output.contextSize, 4096);
        assert.deepEqual(output.context, { source: 'automatic', tokens: 4096, summary: 'Automatic: all 4,096 tokens the model was trained for fit here with the full cache.' });
        assert.equal(output.predicted.fits, true);
    });
});

describe('a document the context cannot hold is refused with what would help, decided by the planner', () => {
    const opened: Array<{ dispose: () => void }> = [];
    after(() => opened.forEach((backend) => backend.dispose()));
    const base64 = (text: string | Buffer) => Buffer.from(text).toString('base64');

    test('a larger context that fits: the reload is offered, and taking it adds the document with the chat as it was', async () => {
        const { backend, call } = await freshBackend();
        opened.push(backend);
        await call('model.load', { path: ORGANISM, overrides: { contextSize: 1024, kvMode: 'off' } });
        const chatId = (await call('chats.create', {})).id;
        await call('documents.add', { chatId, uploadId: 'note', name: 'note.md', dataBase64: base64('# Note\n\nThe harbor code is 50628.') });
        const pdf = base64(haystackPdf(passkey('amber compass', '61847').fact));
        const refusal = await call('documents.add', { chatId, uploadId: 'pdf', name: 'manual.pdf', dataBase64: pdf }).then(() => null, (error: HeadroomError) => error);
        assert.equal(refusal?.code, 'CONTEXT_OVERFLOW');
        assert.match(refusal.message, /^manual\.pdf has [\d,]+ tokens, but only [\d,]+ fit beside the other documents \([\d,]+ tokens\) in the 1,024-token context with room for a reply\. A 3,072-token context fits here: reload the model with it to add this\.$/);
        assert.equal(refusal.actions.length, 1);
        const [action] = refusal.actions;
        assert.match(action?.label ?? '', /^Reload with 3K tokens: KV [\d.]+ (MiB|GiB) full cache, fits$/);
        // The current load's one-off overrides stay; the context is the offer's.
        assert.deepEqual(action, { kind: 'reload', label: action?.label, path: ORGANISM, overrides: { contextSize: 3072, kvMode: 'off' } });
        assert.deepEqual((await call('chats.open', { chatId })).documents.map((d) => d.name), ['note.md'], 'the refused document was not stored');

        const info = await call('model.load', { path: action.path, overrides: LoadOverrides.parse(action.overrides) });
        assert.equal(info.contextSize, 3072);
        const added = await call('documents.add', { chatId, uploadId: 'pdf2', name: 'manual.pdf', dataBase64: pdf });
        assert.ok((added.tokens ?? 0) > 1000);
        assert.deepEqual((await call('chats.open', { chatId })).documents.map((d) => d.name), ['note.md', 'manual.pdf']);
    });

    test('where no context that holds it fits with these settings, it says what would: a q8_0 cache, a smaller budget', async (t) => {
        // 64 layers × 8 KV heads × 32 dims: 64 KiB of f16 cache a token, trained for 1M tokens.
        const model = await cachedRandomGguf('random-64-layers-1m-v1.gguf', {
            architecture: 'llama', vocab: 'llama-spm', nLayer: 64, nEmbd: 256, nHead: 8, nHeadKv: 8, nFf: 256, contextLength: 1 << 20,
            tensorType: 'f16', seed: 11, name: 'Random 64-layer 1M (test)',
        });
        const { backend, call } = await freshBackend();
        opened.push(backend);
        await call('model.load', { path: model, overrides: { contextSize: 1024 } });
        // Sized from this machine's memory with the planner: longer than the longest context that fits
        // with an f16 cache, shorter than the longest with a q8_0 one.
        const request = { path: model, contextSize: 1024, gpuLayers: 'auto' as const, kv: KV_OFF, kvCacheType: 'f16' as const, flashAttention: 'auto' as const };
        const f16 = (await backend.supervisor.fit({ request, goal: 'context' })).request?.contextSize ?? 0;
        const quantized = (await backend.supervisor.fit({ request: { ...request, kvCacheType: 'q8_0' }, goal: 'context' })).request?.contextSize ?? 0;
        if (quantized - f16 < 4096 || quantized >= 1 << 20) {
            t.skip(`a q8_0 cache fits ${quantized} tokens here and f16 ${f16}: no room between them this test model can show`);
            return;
        }
        const needed = f16 + Math.round((quantized - f16) / 2);
        const offers = await contextOffers(backend.supervisor, needed);
        assert.ok(offers != null);
        const labels = offers.actions.map((action) => action.label);
        t.diagnostic(`${needed} tokens: ${offers.advice} ${labels.join(' | ')}`);
        assert.ok(labels.some((label) => /^Reload with [\d.,K]+ tokens and a q8_0 cache: KV [\d.]+ GiB full cache, fits$/.test(label)), labels.join('\n'));
        const withBudget = labels.find((label) => / and a \d+% budget: /.test(label));
        const { model: info } = backend.supervisor.state;
        if (info?.kv.available === true) assert.ok(withBudget != null, `a smaller budget is offered where compression runs: ${labels.join('\n')}`);
        assert.match(offers.advice, new RegExp(`^No context that holds it fits here with these settings; a ${contextCellsFor(needed).toLocaleString('en-US')}-token one would with (a smaller budget or )?a q8_0 cache\\.$`));
        const q8 = offers.actions.find((action) => action.label.includes('q8_0'));
        assert.deepEqual(q8?.overrides, { contextSize: contextCellsFor(needed), kvCacheType: 'q8_0' });
        // Each offer is what the planner says fits, planned as the reload would be built.
        const planned = await call('memory.plan', { path: model, overrides: LoadOverrides.parse(q8?.overrides) });
        assert.equal(planned.predicted.fits, true);
    });

    test('where nothing this model can do would hold it, it says a smaller model would, and offers no reload', async (t) => {
        // MPT (ALiBi): no head-level compression, so no smaller budget; 64 KiB of f16 cache a token,
        // trained for 4M tokens: the most Headroom loads, 1M tokens, needs 34 GiB even as q8_0, and a
        // CPU has no GPU to move heads off.
        const model = await cachedRandomGguf('random-mpt-64-layers-4m-v1.gguf', {
            architecture: 'mpt', nLayer: 64, nEmbd: 256, nHead: 8, nHeadKv: 8, nFf: 256, contextLength: 1 << 22,
            tensorType: 'f16', seed: 12, name: 'Random MPT 64-layer 4M (test)',
        });
        const { backend, call } = await freshBackend();
        opened.push(backend);
        const info = await call('model.load', { path: model, overrides: { contextSize: 1024 } });
        assert.equal(info.kv.available, false, 'MPT runs the full cache');
        const q8 = await backend.supervisor.plan({ path: model, contextSize: 1 << 20, gpuLayers: 'auto', kv: KV_OFF, kvCacheType: 'q8_0', flashAttention: 'auto' });
        if (q8.predicted.fits) {
            t.skip('this machine holds a million tokens of this model\'s q8_0 cache');
            return;
        }
        const offers = await contextOffers(backend.supervisor, 1_000_000);
        assert.ok(offers != null);
        assert.deepEqual(offers.actions, []);
        assert.equal(offers.advice, 'No context that holds it fits this machine, not even with a smaller budget, a q8_0 cache or full heads in CPU RAM: a smaller model would (Models… says which fit here).');
        // past what Headroom loads in one context (1M tokens): parts, not a reload
        const past = await contextOffers(backend.supervisor, 2_000_000);
        assert.deepEqual(past, { actions: [], advice: 'One context holds at most 1,048,576 tokens in Headroom, fewer than this needs: add the document in parts, each to its own chat.' });
        // past what the model was trained for: a model trained longer
        const untrained = await contextOffers(backend.supervisor, 5_000_000);
        assert.match(untrained?.advice ?? '', /^Random MPT 64-layer 4M \(test\) was trained for 4,194,304 tokens, fewer than this needs: a model trained for a longer context would read it whole/);
    });

    test('the size offered: the next of 1K, 1.5K, 2K, 3K, 4K, 6K… with an eighth to spare, at most the trained length', () => {
        assert.equal(offeredContext(2000, 4096), 3072);
        assert.equal(offeredContext(2800, 4096), 4096);
        assert.equal(offeredContext(3700, 4096), 4096, 'what the model was trained for, when the next size is past it');
        assert.equal(offeredContext(50_000, 131_072), 65_536);
        assert.equal(offeredContext(60_000, 0), 98_304);
        assert.equal(tokensShort(65_536), '64K');
        assert.equal(tokensShort(1536), '1.5K');
    });
});
