// KV quantization stacked on the head policy: q8_0 and q4_0 caches (flash attention on, llama.cpp's
// Hadamard rotation of quantized caches kept) for full and streaming heads alike. llama.cpp
// allocates what the formula says, and greedy tokens stay those of the f16 head-level cache on
// random models with 128-value heads; a model whose heads are narrower than a block is refused
// in plain words.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { readGgufFileInfo } from 'node-llama-cpp';
import { spawnNodeHost } from '../backend/host/nodeHost.ts';
import { EngineSupervisor } from '../backend/host/supervisor.ts';
import type { HeadroomError } from '../common/errors.ts';
import { kvBytes, KvOptions, planForBudget, fallbackScores } from '../common/kv/policy.ts';
import { contextCellsFor, kvShapeFromMetadata, type KvCacheType } from '../common/modelShape.ts';
import { runProbe } from './support/kvProbe.ts';
import { ORGANISM } from './support/models.ts';
import { requiresNative } from './support/native.ts';
import { bundledVocab, cacheDir, writeRandomGguf } from './support/randomGguf.ts';

const CONTEXT = 1024;
const BATCH = 128;
function maxAbsDiff(a: readonly (readonly number[])[], b: readonly (readonly number[])[]): number {
    let max = 0;
    a.forEach((row, i) => row.forEach((value, j) => { max = Math.max(max, Math.abs(value - (b[i]?.[j] ?? Number.NaN))); }));
    return max;
}

const PROMPTS = [0, 1, 2].map((seed) => Array.from({ length: 700 }, (_, i) => 300 + ((i * 7919 + seed * 104729) % 29000)));

async function hd128Model(): Promise<string> {
    const outPath = path.join(cacheDir, 'quantized-kv-hd128-v1.gguf');
    if (!existsSync(outPath)) {
        await writeRandomGguf({
            architecture: 'llama', outPath, vocabPath: await bundledVocab('llama-spm'),
            nLayer: 4, nEmbd: 512, nHead: 4, nHeadKv: 2, nFf: 512, contextLength: 4096, tensorType: 'f32', seed: 5, chatTemplate: null,
        });
    }
    return outPath;
}

describe('quantized KV cache with the head policy', requiresNative(), () => {
    for (const kvType of ['q8_0', 'q4_0'] as const satisfies readonly KvCacheType[]) {
        test(`${kvType}: allocated bytes are the formula's; the head policy adds nothing to quantization's own error`, async (t) => {
            const model = await hd128Model();
            const metadata = (await readGgufFileInfo(model)).metadata as unknown as Record<string, unknown>;
            const shape = kvShapeFromMetadata(metadata, contextCellsFor(CONTEXT), BATCH, kvType);
            assert.ok(shape != null && shape.bytesPerHeadToken < 2 * 256, `${kvType} packs a 128-value head into fewer bytes than f16`);
            const plan = planForBudget(shape, fallbackScores(shape), 0.5, { sinks: 4, window: 64, fullPlacement: 'cpu' });
            assert.ok(plan.policy.flat().includes('full') && plan.policy.flat().includes('streaming'), 'both kinds of head');
            const planned = kvBytes(shape, plan, 'cpu');
            const report: string[] = [];
            for (const [index, prompt] of PROMPTS.entries()) {
                const base = { model, contextSize: CONTEXT, batchSize: BATCH, prompt, generate: 12, flashAttention: true, logits: true } as const;
                const quantized = await runProbe({ ...base, build: 'headwise', kvType, plan });
                const bytes = (kind: string) => quantized.buffers.filter((b) => b.kind === kind).reduce((sum, b) => sum + b.bytes, 0);
                assert.deepEqual({ full: bytes('full'), streaming: bytes('streaming') }, { full: planned.full, streaming: planned.streaming });

                // every head full: exactly the stock quantized cache, rotation and all
                const stock = await runProbe({ ...base, build: 'stock', kvType, generate: 4 });
                const allFull = await runProbe({ ...base, build: 'headwise', kvType, generate: 4, plan: { ...plan, policy: plan.policy.map((row) => row.map(() => 'full' as const)) } });
                assert.deepEqual(allFull.generated, stock.generated, `prompt ${index}: the stock ${kvType} cache's tokens`);
                assert.ok(maxAbsDiff(allFull.logits, stock.logits) < 1e-3, `prompt ${index}: and its logits`);

                // streaming heads whose window spans the context attend what the stock cache attends: quantized
                // streaming heads store and read their rows exactly as the stock quantized cache does
                const wide = await runProbe({ ...base, build: 'headwise', kvType, generate: 4, plan: { ...plan, window: CONTEXT } });
                assert.ok(wide.buffers.some((b) => b.kind === 'streaming'), 'streaming heads in their own quantized cache');
                assert.deepEqual(wide.generated, stock.generated, `prompt ${index}: quantized streaming heads give the stock ${kvType} cache's tokens`);
                assert.ok(maxAbsDiff(wide.logits, stock.logits) < 1e-3, `prompt ${index}: and its logits (max diff ${maxAbsDiff(wide.logits, stock.logits)})`);

                // against the f16 head-level cache: quantization's own divergence, measured and reported
                const f16 = await runProbe({ ...base, build: 'headwise', plan });
                const first = f16.generated.findIndex((token, i) => quantized.generated[i] !== token);
                const gap = maxAbsDiff(quantized.logits.slice(0, 1), f16.logits.slice(0, 1));
                const spread = Math.max(...(f16.logits[0] ?? [])) - Math.min(...(f16.logits[0] ?? []));
                report.push(`prompt ${index}: ${first === -1 ? 'all 12 tokens equal' : `first differing token ${first}`}, first-token logits within ${(100 * gap / spread).toFixed(2)}% of their spread`);
                assert.ok(gap < (kvType === 'q8_0' ? 0.05 : 0.2) * spread, `prompt ${index}: ${kvType} moves the first token's logits by ${gap} of a ${spread} spread`);
            }
            t.diagnostic(`${kvType} against f16 (random weights, near-uniform logits, so greedy ties break either way): ${report.join('; ')}`);
        });
    }

    describe('a model whose heads are narrower than a quantization block (organism.gguf: 16 < 32)', () => {
        const supervisor = new EngineSupervisor(spawnNodeHost, () => {});
        after(() => supervisor.dispose());

        test('refuses a quantized head-level cache, saying why in plain words, and keeps working', async () => {
            await assert.rejects(
                supervisor.load({ path: ORGANISM, contextSize: 1024, kvCacheType: 'q8_0', kv: KvOptions.parse({ mode: 'budget', budget: 0.5 }) }),
                (error: HeadroomError) => error.code === 'BAD_REQUEST'
                    && /organism\.gguf's attention heads are 16 values wide, and a q8_0 cache stores values in blocks of 32: it cannot be quantized\. Use the f16 cache\./.test(error.message),
            );
            const info = await supervisor.load({ path: ORGANISM, contextSize: 1024, kvCacheType: 'f16', kv: KvOptions.parse({ mode: 'budget', budget: 0.5 }) });
            assert.equal(info.kv.active, true);
        });
    });
});
