// What llama.cpp says it allocated, read from its log: the buffers behind the planner's "actual"
// numbers and the head-level cache's account of itself.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BufferLog, parseBufferLine } from '../../engine/llamaLog.ts';
import { buildSupportsHeadwise, formatPolicyFile, KvLogCollector, parseKvBufferLine } from '../../engine/kv/native.ts';

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
});

describe('the head-level cache\'s log lines', () => {
    test('its buffers, the stock cache\'s, and an architecture it refused', () => {
        assert.deepEqual(parseKvBufferLine('llama_kv_cache_headwise: buffer kind=streaming buft=CUDA0 host=0 bytes=294912 cells=288'),
            { kind: 'streaming', bufferType: 'CUDA0', device: 'gpu', bytes: 294912, cells: 288 });
        const log = new KvLogCollector();
        for (const line of [
            'llama_kv_cache_headwise: buffer kind=full buft=CUDA_Host host=1 bytes=262144 cells=2048',
            'llama_kv_cache:        CPU KV buffer size =     1.00 MiB',
            'llama_kv_cache_headwise: buffer kind=window buft=Vulkan0 host=0 bytes=131072 cells=1280',
            'llama_kv_cache_headwise: unavailable for architecture gpt-oss (learned attention sinks); using the standard KV cache',
            'llama_context: n_ctx = 2048',
            'llama_kv_cache_headwise: probe layer=3 queries=7 mass=0.0899704,5.79049,1e-05',
        ]) log.take(line);
        assert.deepEqual(log.buffers, [
            { kind: 'full', bufferType: 'CUDA_Host', device: 'cpu', bytes: 262144, cells: 2048 },
            { kind: 'window', bufferType: 'Vulkan0', device: 'gpu', bytes: 131072, cells: 1280 },
        ], 'pinned host memory is CPU RAM; the model\'s window layers have buffers of their own');
        assert.deepEqual(log.stockBuffers, [{ bufferType: 'CPU', device: 'cpu', bytes: 1 << 20 }]);
        assert.equal(log.unavailableFor, 'gpt-oss');
        assert.equal(log.unavailableBecause, 'learned attention sinks');
        assert.deepEqual(log.probe, [{ layer: 3, queries: 7, mass: [0.0899704, 5.79049, 1e-5] }]);
    });

    test('our build says so in its system info; the policy file is what the native cache parses', () => {
        assert.equal(buildSupportsHeadwise('CPU : SSE3 = 1 | HEADWISE_KV = 1 | OPENMP = 1'), true);
        assert.equal(buildSupportsHeadwise('CPU : SSE3 = 1 | OPENMP = 1'), false);
        assert.equal(formatPolicyFile({ policy: [['full', 'streaming'], ['window', 'window']], sinks: 4, window: 128, fullPlacement: 'cpu' }),
            '# Headroom head-level KV policy: F = full head, S = streaming head (sinks + window), W = the model\'s window layer\nsinks 4\nwindow 128\nfull_placement cpu\nlayer 0 F S\nlayer 1 W W\n');
    });
});
