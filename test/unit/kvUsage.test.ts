// The KV usage the gauges and the head map draw: from the formula for the stock cache, and from
// the engine's own account of the head-level cache.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KvShape } from '../../common/modelShape.ts';
import { fallbackScores, kvBytes, planForBudget, streamingCells } from '../../common/kv/policy.ts';
import { kvUsageFromFormula, kvUsageFromStats, type KvStats } from '../../common/kv/usage.ts';

const SHAPE: KvShape = { layers: 4, kvHeads: 4, bytesPerHeadToken: 64, contextCells: 2048, ubatch: 128 };
const HEAD = 2048 * 64;

describe('kvUsage from the formula', () => {
    test('the stock cache follows its layers: the first gpuLayers on the GPU, the rest in CPU RAM', () => {
        const usage = kvUsageFromFormula(SHAPE, null, { gpuLayers: 3 });
        assert.equal(usage.source, 'formula');
        assert.deepEqual([usage.gpu, usage.cpu], [3 * 4 * HEAD, 1 * 4 * HEAD]);
        assert.deepEqual([usage.full, usage.streaming], [16 * HEAD, 0]);
        assert.deepEqual(usage.heads.map((row) => row[0]?.placement), ['gpu', 'gpu', 'gpu', 'cpu']);
        assert.ok(usage.heads.flat().every((cell) => cell.policy === 'full' && cell.score === null && cell.bytes === HEAD));
    });

    test('a plan: full heads where it puts them, with the profile\'s scores', () => {
        const plan = planForBudget(SHAPE, fallbackScores(SHAPE), 0.25, { sinks: 4, window: 128, fullPlacement: 'cpu' });
        const scores = fallbackScores(SHAPE);
        const usage = kvUsageFromFormula(SHAPE, plan, { gpuLayers: 4, profile: { modelSha256: 'a'.repeat(64), layers: 4, kvHeads: 4, scores, source: 'profiler', recommendedBudget: 0.25, createdAt: '' } });
        const stream = streamingCells(SHAPE, 4, 128) * 64;
        assert.deepEqual([usage.full, usage.streaming], [2 * HEAD, 14 * stream]);
        assert.deepEqual([usage.cpu, usage.gpu], [2 * HEAD, 14 * stream]);
        assert.deepEqual(usage.heads[3]?.[0], { policy: 'full', placement: 'cpu', score: 3, bytes: HEAD });
        assert.deepEqual(usage.heads[0]?.[0], { policy: 'streaming', placement: 'gpu', score: 0, bytes: stream });
        assert.deepEqual({ gpu: usage.gpu, cpu: usage.cpu }, (({ gpu, cpu }) => ({ gpu, cpu }))(kvBytes(SHAPE, plan, 'gpu')), 'the same as the formula for the whole cache');
    });
});

describe('kvUsage from kvStats', () => {
    const plan = planForBudget(SHAPE, fallbackScores(SHAPE), 0.25, { sinks: 4, window: 128, fullPlacement: 'cpu' });
    const planned = kvBytes(SHAPE, plan, 'cpu');
    const stats = (buffers: KvStats['allocated']['buffers']): KvStats => ({
        compression: { available: true, active: true, reason: null }, mode: 'budget', budget: 0.25, profile: null,
        sinks: 4, window: 128, fullPlacement: 'cpu', contextCells: 2048, streamingCells: 288,
        tokens: { context: 0, full: 0, streaming: 0 }, policy: plan.policy, planned,
        allocated: { gpu: buffers.filter((b) => b.device === 'gpu').reduce((a, b) => a + b.bytes, 0), cpu: buffers.filter((b) => b.device === 'cpu').reduce((a, b) => a + b.bytes, 0), buffers },
    });

    test('what llama.cpp allocated, when it said', () => {
        const usage = kvUsageFromStats(stats([
            { kind: 'full', bufferType: 'CPU', device: 'cpu', bytes: planned.full + 512, cells: 2048 },
            { kind: 'streaming', bufferType: 'CUDA0', device: 'gpu', bytes: planned.streaming + 256, cells: 288 },
        ]), null);
        assert.equal(usage.source, 'kvStats');
        assert.deepEqual([usage.cpu, usage.gpu], [planned.full + 512, planned.streaming + 256]);
        assert.deepEqual([usage.full, usage.streaming], [planned.full, planned.streaming], 'by policy, the plan\'s bytes');
        assert.ok(usage.heads.flat().filter((h) => h.policy === 'streaming').every((h) => h.placement === 'gpu'), 'streaming heads where their buffer is');
    });

    test('the plan\'s formula when llama.cpp reported nothing, and the profile\'s scores on the heads', () => {
        const scores = fallbackScores(SHAPE);
        const usage = kvUsageFromStats(stats([]), scores);
        assert.deepEqual([usage.cpu, usage.gpu], [planned.cpu, planned.gpu]);
        assert.equal(usage.heads[2]?.[1]?.score, 2);
        assert.deepEqual([usage.layers, usage.kvHeads], [4, 4]);
    });
});
