// Memory, for real: the planner's predictions against what llama.cpp allocates (through
// `npm run plan -- --load`), and the engine host pushing live memory while it generates.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { EventEnvelope } from '../common/contract.ts';
import type { DeviceBytes } from '../common/devices.ts';
import type { KvCompression } from '../common/kv/usage.ts';
import type { Prediction } from '../common/plan.ts';
import { spawnNodeHost } from '../backend/host/nodeHost.ts';
import { EngineSupervisor } from '../backend/host/supervisor.ts';
import { chatModelForTests, deepModelForTests, ORGANISM, STORIES } from './support/models.ts';
import { requiresNative } from './support/native.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const run = promisify(execFile);

/** What `npm run plan` prints: the prediction, and with --load what llama.cpp allocated. */
interface PlanOutput {
    budget: number | null;
    predicted: Prediction;
    actual?: { kvCompression: KvCompression; kvBytes: DeviceBytes; weightsBytes: number; computeBytes: DeviceBytes };
}

async function plan(args: string[]): Promise<PlanOutput> {
    const { stdout } = await run('npm', ['run', '--silent', 'plan', '--', ...args], { cwd: root, env: { ...process.env, HEADROOM_GPU: 'false' } });
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 1, 'plan prints exactly one line');
    return JSON.parse(lines[0] ?? '') as PlanOutput;
}

/** The plan with what llama.cpp allocated, as `--load` prints it. */
async function planAndLoad(args: string[]): Promise<Required<PlanOutput>> {
    const { actual, ...result } = await plan([...args, '--load']);
    assert.ok(actual != null, 'with --load, what llama.cpp allocated');
    return { ...result, actual };
}

describe('memory planner against llama.cpp (npm run plan)', () => {
    for (const [model, contexts] of [[ORGANISM, [256, 1000, 2048, 4096]], [STORIES, [512]]] as const) {
        for (const context of contexts) {
            test(`${model.split('/').at(-1)} at ${context} tokens: predicted KV within 10% of what llama.cpp allocated`, async () => {
                const result = await planAndLoad(['--model', model, '--context', String(context), '--kv', 'off']);
                const predicted = result.predicted.kvBytes.gpu + result.predicted.kvBytes.cpu;
                const actual = result.actual.kvBytes.gpu + result.actual.kvBytes.cpu;
                assert.ok(actual > 0, 'llama.cpp reported its KV buffer');
                assert.ok(Math.abs(predicted - actual) / actual <= 0.1, `predicted ${predicted} vs actual ${actual}`);
                assert.equal(result.predicted.kvBytes.gpu, 0, 'no GPU here: nothing predicted on it');
                assert.equal(result.predicted.fits, true);
                const weights = result.actual.weightsBytes;
                assert.ok(Math.abs(result.predicted.weightsBytes - weights) / weights <= 0.1, `weights ${result.predicted.weightsBytes} vs ${weights}`);
                const compute = result.actual.computeBytes.cpu;
                assert.ok(Math.abs(result.predicted.computeBytes.cpu - compute) / compute <= 0.25, `compute ${result.predicted.computeBytes.cpu} vs ${compute}`);
            });
        }
    }
});

describe('memory planner against the head-level cache (npm run plan --kv)', requiresNative(), () => {
    for (const [context, budget, offload] of [[2048, 0.25, 'auto'], [2048, 0.5, 'auto'], [4096, 0.25, 'cpu'], [1000, 0.4, 'auto']] as const) {
        test(`organism.gguf at ${context} tokens, ${budget * 100}% budget: predicted KV within 10% of what the head-level cache allocated`, async () => {
            const result = await planAndLoad(['--model', ORGANISM, '--context', String(context), '--kv', String(budget), '--offload', offload]);
            assert.equal(result.actual.kvCompression.active, true, result.actual.kvCompression.reason ?? undefined);
            const predicted = result.predicted.kvBytes.gpu + result.predicted.kvBytes.cpu;
            const actual = result.actual.kvBytes.gpu + result.actual.kvBytes.cpu;
            assert.ok(Math.abs(predicted - actual) / actual <= 0.1, `predicted ${predicted} vs actual ${actual}`);
            const stock = await plan(['--model', ORGANISM, '--context', String(context), '--kv', 'off']);
            assert.ok(actual < (stock.predicted.kvBytes.cpu) * (budget + 0.1), `${actual} bytes is not a ${budget} share of the stock ${stock.predicted.kvBytes.cpu}`);
        });
    }
});

describe('memory plans (npm run plan)', () => {
    test('a compression budget shrinks the predicted cache; the cache grows with the context', async () => {
        const full = await plan(['--model', ORGANISM, '--context', '4096']);
        const third = await plan(['--model', ORGANISM, '--context', '4096', '--kv', '0.3']);
        const ratio = third.predicted.kvBytes.cpu / full.predicted.kvBytes.cpu;
        assert.ok(ratio <= 0.3 && ratio > 0.2, `a 30% budget keeps ${ratio} of the cache`);
        assert.ok(third.budget != null && Math.abs(third.budget - ratio) < 1e-9, `the plan says what it spends (${third.budget}), at most the 0.3 asked`);
        const huge = await plan(['--model', ORGANISM, '--context', String(1 << 20), '--kv', 'off']);
        assert.equal(huge.predicted.kvBytes.cpu, 1024 * full.predicted.kvBytes.cpu / 4, 'the cache grows with the context');
    });

    test('refuses bad arguments with a message', async () => {
        await assert.rejects(plan(['--model', ORGANISM, '--context', '4096', '--kv', '1.5']), /--kv must be off, auto or a budget/);
        await assert.rejects(plan(['--model', ORGANISM, '--context', 'lots']), /--context must be a whole number/);
        await assert.rejects(plan(['--model', path.join(root, 'README.md'), '--context', '1024']), /headroom plan: Could not load README\.md: it does not start with "GGUF", the mark of a model file\./);
        await assert.rejects(plan(['--model', ORGANISM, '--context', '-1']), (error: Error) => /headroom plan: .*--context/.test(error.message) && !/ at /.test(error.message));
    });
});

describe('fit to my machine (through the engine host)', () => {
    const supervisor = new EngineSupervisor(spawnNodeHost, () => {});
    after(() => supervisor.dispose());

    test('largest context: capped at what the model was trained for when memory allows', async () => {
        const fit = await supervisor.fit({
            goal: 'context',
            request: { path: ORGANISM, contextSize: 512, gpuLayers: 'auto', kv: { mode: 'off', sinks: 4, window: 128, offload: 'auto' }, kvCacheType: 'f16', flashAttention: 'auto' },
        });
        assert.equal(fit.request?.contextSize, 4096);
        assert.equal(fit.plan?.predicted.fits, true);
        assert.match(fit.message, /4,096 tokens \(all the model was trained for\)/);
    });

    test('least compression: the full cache when it fits, else the largest budget that fits', async () => {
        const request = { path: ORGANISM, contextSize: 2048, gpuLayers: 'auto' as const, kv: { mode: 'budget' as const, budget: 0.2, sinks: 4, window: 128, offload: 'auto' as const }, kvCacheType: 'f16' as const, flashAttention: 'auto' as const };
        const fit = await supervisor.fit({ goal: 'compression', request });
        assert.equal(fit.request?.kv.mode, 'off');
        assert.equal(fit.message, 'The full cache fits: no compression needed.');
        await assert.rejects(supervisor.plan({ ...request, path: '/nowhere/model.gguf' }), (error: Error & { code?: string }) => error.code === 'NOT_FOUND');

        // 80 layers at a million tokens: tens of GiB of full cache. Whatever this machine has,
        // the answer must fit, and one more percent of cache must not.
        const deep = { ...request, path: await deepModelForTests(), contextSize: 1 << 20 };
        const squeezed = await supervisor.fit({ goal: 'compression', request: deep });
        if (squeezed.request?.kv.mode === 'budget') {
            const budget = squeezed.request.kv.budget ?? 1;
            assert.ok(budget > 0 && budget < 1 && squeezed.plan?.predicted.fits === true, squeezed.message);
            // 100% in budget mode only differs from the stock cache (which did not fit) by its smaller batches
            if (budget < 0.99) {
                const more = await supervisor.plan({ ...deep, kv: { ...deep.kv, budget: budget + 0.01 } });
                assert.equal(more.predicted.fits, false, `${budget + 0.01} should not fit`);
            }
            assert.match(squeezed.message, new RegExp(`keeps ${Math.round(budget * 100)}% of the cache`));
        } else {
            assert.ok(squeezed.request == null || squeezed.plan?.predicted.fits, squeezed.message);
        }
    });
});

// The window asks for a plan whenever a setting changes, also while a reload is under way. A
// plan used to cut a load off from llama.cpp's log (a second Llama instance, or node-llama-cpp
// quieting the log while it simulates a load), and the load then read no KV buffers: compression
// reported off, "actual" KV 0 B.
describe('plans asked for while a model loads (a fresh engine host)', requiresNative(), () => {
    const supervisor = new EngineSupervisor(spawnNodeHost, () => {});
    after(() => supervisor.dispose());
    const kv = { mode: 'budget' as const, budget: 0.25, sinks: 4, window: 128, offload: 'auto' as const };

    test('the load still reads what llama.cpp allocated and that the head-level cache is on', async () => {
        for (const contextSize of [2048, 4096]) {
            let loading = true;
            const load = supervisor.load({ path: ORGANISM, contextSize, kv }).finally(() => { loading = false; });
            // Each plan at a size not planned before, so node-llama-cpp simulates it afresh.
            let plans = 0;
            for (let planned = contextSize + 256; loading; planned += 256, plans++) {
                await supervisor.plan({ path: ORGANISM, contextSize: planned, gpuLayers: 'auto', kv: { ...kv, mode: 'off' }, kvCacheType: 'f16', flashAttention: 'auto' });
            }
            const info = await load;
            assert.ok(plans > 0, 'a plan was asked for while the model loaded');
            assert.equal(info.kv.active, true, info.kv.reason ?? '');
            const { loaded } = await supervisor.handlers()['memory.stats']({});
            assert.ok(loaded?.predicted != null);
            const actual = loaded.actual.kv.gpu + loaded.actual.kv.cpu;
            const predicted = loaded.predicted.kvBytes.gpu + loaded.predicted.kvBytes.cpu;
            assert.ok(actual > 0 && Math.abs(actual - predicted) / actual < 0.1, `KV: ${actual} bytes allocated, ${predicted} predicted`);
        }
    });
});

describe('live memory pushed by the engine host', () => {
    const events: EventEnvelope[] = [];
    const supervisor = new EngineSupervisor(spawnNodeHost, (event) => events.push(event));
    const stats = () => events.filter((e) => e.name === 'memory.stats').map((e) => e.payload);
    before(async () => {
        await supervisor.load({ path: await chatModelForTests(), contextSize: 2048 });
    });
    after(() => supervisor.dispose());

    test('after loading: the cache from the model shape, labelled, next to what llama.cpp allocated', async () => {
        const snapshot = await supervisor.handlers()['memory.stats']({});
        assert.deepEqual(snapshot.gpu, { available: false, reason: 'No GPU: the model runs on the CPU.' });
        assert.equal(snapshot.kv?.source, 'formula');
        assert.equal(snapshot.kv?.layers, 2);
        assert.equal(snapshot.kv?.kvHeads, 2);
        // 2 layers × 2 KV heads × 2048 cells × (32 + 32 values × 2 bytes).
        assert.equal(snapshot.kv?.cpu, 2 * 2 * 2048 * 128);
        assert.equal(snapshot.loaded?.actual.kv.cpu, snapshot.kv?.cpu, 'the formula matches llama.cpp\'s own KV buffer');
        assert.ok(snapshot.loaded?.predicted != null);
        assert.equal(snapshot.loaded.predicted.kvBytes.cpu, snapshot.loaded.actual.kv.cpu);
        assert.ok(snapshot.processRamBytes > 10 << 20);
        assert.deepEqual(snapshot.context, { usedTokens: 0, capacityTokens: 2048 });
    });

    test('while generating, stats arrive at least twice a second and move', async () => {
        events.length = 0;
        const sending = supervisor.generate({ generationId: 'm1', documents: [], history: [], prompt: 'Tell me about the sea.' });
        const started = Date.now();
        while (Date.now() - started < 2200) await new Promise((resolve) => setTimeout(resolve, 100));
        await supervisor.stopGeneration({ generationId: 'm1' });
        await sending;
        const live = stats().filter((s) => s.generating);
        const [firstLive, lastLive] = [live[0], live.at(-1)];
        assert.ok(firstLive != null && lastLive != null, 'snapshots arrived while it generated');
        const span = (lastLive.at - firstLive.at) / 1000;
        assert.ok(live.length >= 4, `got ${live.length} live snapshots`);
        assert.ok(live.length / Math.max(span, 0.001) >= 2 - 0.5, `${live.length} snapshots over ${span}s`);
        assert.ok(live.some((s) => (s.tokensPerSecond ?? 0) > 0), 'a generation speed is reported');
        const used = live.map((s) => s.context?.usedTokens ?? 0);
        assert.ok((used.at(-1) ?? 0) > (used[0] ?? 0), `context use grows: ${used.join(', ')}`);
        const last = stats().at(-1);
        assert.equal(last?.generating, false, 'a final snapshot says generation ended');
        assert.ok((last?.generatedTokens ?? 0) > 0);
    });
});
