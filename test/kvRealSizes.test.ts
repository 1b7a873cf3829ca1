// Real model sizes on the head-level cache: random-weight models with the layer and KV-head
// counts of Llama-3-8B (32 layers), Qwen2.5-32B (64) and Llama-3-70B (80), 8 KV heads, small
// widths, and a head plan with full and streaming heads in every layer (the layout that once
// ran out of graph nodes). Each builds its graph, decodes, and matches the stock cache when
// the window covers the context.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HeadPlan, HeadPolicy } from '../common/kv/policy.ts';
import { runProbe } from './support/kvProbe.ts';
import { requiresNative } from './support/native.ts';
import { cachedRandomGguf } from './support/randomGguf.ts';

const KV_HEADS = 8;
const CONTEXT = 2048;
const PROMPT = Array.from({ length: 600 }, (_, i) => 100 + ((i * 7919) % 20000));

/** One full head per layer, a different one in each: every layer holds both kinds. */
function everyLayerMixed(layers: number, window: number): HeadPlan {
    const policy = Array.from({ length: layers }, (_, layer) =>
        Array.from({ length: KV_HEADS }, (_, head): HeadPolicy => (head === layer % KV_HEADS ? 'full' : 'streaming')));
    return { policy, sinks: 4, window, fullPlacement: 'cpu' };
}

function modelWithLayers(layers: number): Promise<string> {
    return cachedRandomGguf(`real-size-${layers}-layers.gguf`, {
        architecture: 'llama', vocab: 'llama-spm', nLayer: layers, nEmbd: 256, nHead: 16, nHeadKv: KV_HEADS,
        nFf: 256, contextLength: 4096, tensorType: 'f32', seed: layers, chatTemplate: null, name: `random ${layers}-layer`,
    });
}

function maxAbsDiff(a: number[][], b: number[][]): number {
    let max = 0;
    a.forEach((row, i) => row.forEach((value, j) => { max = Math.max(max, Math.abs(value - (b[i]?.[j] ?? Number.NaN))); }));
    return max;
}

describe('head-level cache at real layer counts', requiresNative(), () => {
    for (const layers of [32, 64, 80]) {
        test(`${layers} layers × ${KV_HEADS} KV heads, full heads in every layer`, async () => {
            const model = await modelWithLayers(layers);
            const base = { model, contextSize: CONTEXT, batchSize: 512, prompt: PROMPT, generate: 6, flashAttention: true, logits: true } as const;
            const stock = await runProbe({ ...base, build: 'stock' });
            const wide = await runProbe({ ...base, build: 'headwise', plan: everyLayerMixed(layers, CONTEXT) });
            assert.equal(wide.buffers.filter((b) => b.kind === 'full').length, 1, 'the head-level cache was made');
            assert.deepEqual(wide.generated, stock.generated, 'greedy tokens identical to the stock cache');
            const gap = maxAbsDiff(wide.logits, stock.logits);
            assert.ok(gap < 1e-3, `logits within 1e-3 of the stock cache (max diff ${gap})`);

            const narrow = await runProbe({ ...base, build: 'headwise', plan: everyLayerMixed(layers, 64) });
            assert.equal(narrow.generated.length, 6, 'decodes with a window far shorter than the prompt');
            assert.ok(narrow.logits.flat().every(Number.isFinite), 'finite logits');
            assert.ok(maxAbsDiff(narrow.logits, stock.logits) > 100 * Math.max(gap, 1e-6), 'a short window changes the result: the streaming heads really stream');
        });
    }
});
