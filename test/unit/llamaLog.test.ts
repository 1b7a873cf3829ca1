// What llama.cpp says it allocated, read from its log (the buffers behind the planner's "actual"
// numbers), and the head-level cache's seam: the plan as a context option and as a tool's policy file.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BufferLog, parseBufferLine } from '../../engine/llamaLog.ts';
import { buildSupportsHeadwise, contextPolicyOf, formatPolicyFile } from '../../engine/kv/native.ts';
import { kvHeadShares } from '../../engine/profiler/attentionScores.ts';

describe('llama.cpp buffer log', () => {
    test('reads KV, model and compute buffers by device', () => {
        assert.deepEqual(parseBufferLine('llama_kv_cache:        CPU KV buffer size =     0.50 MiB'), { kind: 'kv', bufferType: 'CPU', device: 'cpu', bytes: 524288 });
        assert.deepEqual(parseBufferLine('llama_kv_cache:      CUDA0 KV buffer size =  1024.00 MiB'), { kind: 'kv', bufferType: 'CUDA0', device: 'gpu', bytes: 1 << 30 });
        assert.deepEqual(parseBufferLine('load_tensors:   CPU_Mapped model buffer size =     4.00 MiB'), { kind: 'weights', bufferType: 'CPU_Mapped', device: 'cpu', bytes: 4 << 20 });
        assert.deepEqual(parseBufferLine('sched_reserve:  CUDA_Host compute buffer size =     2.00 MiB'), { kind: 'compute', bufferType: 'CUDA_Host', device: 'cpu', bytes: 2 << 20 });
        assert.equal(parseBufferLine('llama_context:        CPU  output buffer size =     0.00 MiB'), null);
    });

    test('tallies them by kind and device', () => {
        const log = new BufferLog();
        for (const line of ['load_tensors: CPU_Mapped model buffer size = 4.00 MiB', 'load_tensors: CUDA0 model buffer size = 8.00 MiB', 'llama_kv_cache: CUDA0 KV buffer size = 1.00 MiB', 'llama_kv_cache: CUDA0 KV buffer size = 1.00 MiB', 'llama_context: n_ctx = 1024']) log.observe(line);
        assert.deepEqual(log.measured, { kv: { gpu: 2 << 20, cpu: 0 }, weights: { gpu: 8 << 20, cpu: 4 << 20 }, compute: { gpu: 0, cpu: 0 } });
    });

    test('waits for lines that come after the call that logged them, for a bounded time', async () => {
        const log = new BufferLog();
        setTimeout(() => log.observe('sched_reserve: CPU compute buffer size = 1.00 MiB'), 40); // as node-llama-cpp's logger delivers them
        assert.equal(await log.arrived('compute', 2000), true);
        assert.equal(log.measured.compute.cpu, 1 << 20);
        const started = performance.now();
        assert.equal(await log.arrived('kv', 60), false, 'a line that never comes is given up on');
        assert.ok(performance.now() - started < 1000);
    });
});

describe('the head-level cache\'s seam', () => {
    test('a plan is node-llama-cpp\'s context option: one llama_kv_head_policy per (layer, KV head), layer-major', () => {
        const policy = contextPolicyOf({ policy: [['full', 'streaming'], ['window', 'window']], sinks: 4, window: 128, fullPlacement: 'cpu' });
        assert.deepEqual([...policy.heads], [0, 1, 2, 2]);
        assert.deepEqual({ ...policy, heads: undefined }, { heads: undefined, sinks: 4, window: 128, fullOffload: false });
        assert.deepEqual(contextPolicyOf({ policy: [['full', 'full']], sinks: 0, window: 1, fullPlacement: 'gpu' }, { p0: 120, p1: 140, q0: 900 }).probe,
            { keysStart: 120, keysEnd: 140, queriesStart: 900 }, 'the attention probe: the needle\'s keys and the first counted query');
    });

    test('our build says so in its system info; the policy file is what llama.cpp\'s tools take (--kv-head-policy)', () => {
        assert.equal(buildSupportsHeadwise('CPU : SSE3 = 1 | HEADWISE_KV = 1 | OPENMP = 1'), true);
        assert.equal(buildSupportsHeadwise('CPU : SSE3 = 1 | OPENMP = 1'), false);
        assert.equal(formatPolicyFile({ policy: [['full', 'streaming'], ['window', 'window']], sinks: 4, window: 128, fullPlacement: 'cpu' }),
            '# Headroom head-level KV policy: F = full head, S = streaming head (sinks + window), W = the model\'s window layer\nsinks 4\nwindow 128\nfull_placement cpu\nlayer 0 F S\nlayer 1 W W\n');
    });

    test('a KV head\'s retrieval score is its query group\'s mean share of attention per counted query', () => {
        // 2 KV heads, 4 query heads (GQA: query heads 0-1 read KV head 0, 2-3 read KV head 1), 5 queries counted.
        const shares = kvHeadShares([{ layer: 0, queries: 5, mass: [0.5, 0.5, 4.5, 3.5] }, { layer: 1, queries: 5, mass: [0, 0, 0, 0] }], { layers: 2, kvHeads: 2 });
        assert.deepEqual(shares, [[0.1, 0.8], [0, 0]]);
        assert.deepEqual(kvHeadShares([], { layers: 1, kvHeads: 2 }), [[0, 0]], 'a layer without a probe line (a window layer) scores nothing');
    });
});
