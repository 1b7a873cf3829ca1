// Benchmark: KV bytes and speed of the stock cache against head-level budgets on organism.gguf
// at a 2048-token context filled with a ~1,900-token document. Writes bench/results/kv-headwise.json.
//   node bench/kvHeadwise.ts
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { kvBytes, planForBudget, type KvShape } from '../electron/engine/kv/policy.ts';
import { fallbackScores } from '../electron/engine/kv/resolve.ts';
import { runProbe } from '../test/support/kvProbe.ts';
import { ORGANISM } from '../test/support/models.ts';

const CONTEXT = 2048;
const UBATCH = 128;
const GENERATE = 64;
const shape: KvShape = { layers: 4, kvHeads: 4, bytesPerHeadToken: 64, contextCells: CONTEXT, ubatch: UBATCH };
const FILLER = 'This package is free software; you can redistribute it and/or modify it under the terms of the GNU '
    + 'General Public License as published by the Free Software Foundation. The passcode for the amber clock is 61420. ';
const prompt = `${FILLER.repeat(40)}\n\nQ: What is the passcode for the amber clock?\nA: `;

const runs = [];
for (const flashAttention of [false, true]) {
    const stock = await runProbe({ build: 'stock', model: ORGANISM, contextSize: CONTEXT, batchSize: UBATCH, flashAttention, prompt, generate: GENERATE });
    runs.push({
        build: 'stock', budget: 1, flashAttention, promptTokens: stock.promptTokens.length,
        kvBytes: stock.stockBuffers.reduce((a, b) => a + b.bytes, 0), plannedBytes: kvBytes(shape, null, 'cpu').cpu,
        prefillSeconds: stock.prefillSeconds, decodeTokensPerSecond: stock.decodeTokensPerSecond,
    });
    for (const budget of [1, 0.5, 0.25]) {
        const plan = planForBudget(shape, fallbackScores(shape), budget, { sinks: 4, window: 128, fullPlacement: 'cpu' });
        const result = await runProbe({ build: 'headwise', model: ORGANISM, contextSize: CONTEXT, batchSize: UBATCH, flashAttention, plan, prompt, generate: GENERATE });
        runs.push({
            build: 'headwise', budget, flashAttention, promptTokens: result.promptTokens.length,
            fullHeads: plan.policy.flat().filter((p) => p === 'full').length,
            kvBytes: result.buffers.reduce((a, b) => a + b.bytes, 0), plannedBytes: kvBytes(shape, plan, 'cpu').cpu,
            prefillSeconds: result.prefillSeconds, decodeTokensPerSecond: result.decodeTokensPerSecond,
            sameTokensAsStock: JSON.stringify(result.generated) === JSON.stringify(stock.generated),
        });
    }
}
const out = fileURLToPath(new URL('./results/kv-headwise.json', import.meta.url));
await mkdir(path.dirname(out), { recursive: true });
await writeFile(out, JSON.stringify({ model: 'organism.gguf', context: CONTEXT, ubatch: UBATCH, generate: GENERATE, threads: 1, runs }, null, 2) + '\n');
console.table(runs);
console.log(`wrote ${out}`);
