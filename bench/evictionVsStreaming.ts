// Does the profiler's eviction emulation rank KV heads as true streaming heads would?
// The tests' plain TypeScript forward pass of an F32/F16 llama GGUF (organism.gguf) with
// per-head attention masks gives the ground truth: ablated heads see only sinks + window at every
// position, prompt included. Both methods score the profiler's prompts; the per-head scores
// and the accuracy with all but the top heads streaming are compared.
//   node bench/evictionVsStreaming.ts [model.gguf] [prompts] [tokens] [out.json]
import { writeFile } from 'node:fs/promises';
import { KV_OFF, rankHeads } from '../common/kv/policy.ts';
import { loadModel } from '../engine/load.ts';
import { ANSWER_ROOM, evictionAblator, profilePrompts } from '../engine/profiler/headProfiler.ts';
import type { HeadRef } from '../engine/profiler/kvStateEviction.ts';
import type { ScoredPrompt } from '../engine/profiler/prompting.ts';
import { LlamaReference, streamingVisibility } from '../test/support/llamaReference.ts';
import { ORGANISM } from '../test/support/models.ts';

const modelPath = process.argv[2] ?? ORGANISM;
const promptCount = Number(process.argv[3] ?? 4);
const promptTokens = Number(process.argv[4] ?? 768);
const outPath = process.argv[5];
const SINKS = 4;
const WINDOW = 64;

/** The log-probability of `target` under `logits`, and whether it is the greedy choice. */
function scoreLogits(logits: Float64Array, target: number): { logProb: number; greedy: boolean } {
    let max = -Infinity;
    let best = 0;
    logits.forEach((value, index) => {
        if (value > max) [max, best] = [value, index];
    });
    let sum = 0;
    for (const value of logits) sum += Math.exp(value - max);
    return { logProb: (logits[target] ?? -Infinity) - max - Math.log(sum), greedy: best === target };
}

const model = await LlamaReference.load(modelPath);
// The profiler's own prompts (same seed), scored by both methods.
const loaded = await loadModel({ path: modelPath, contextSize: promptTokens + ANSWER_ROOM, kv: KV_OFF });
const prompts: ScoredPrompt[] = await profilePrompts(loaded.model, promptCount, promptTokens, 1);

/** Quality on the reference forward pass with `heads` masked to sinks + window at every position. */
const reference = (heads: readonly HeadRef[]) => {
    const policy = Array.from({ length: model.nLayer }, (_, layer) => Array.from({ length: model.nHeadKv }, (_, head) =>
        (heads.some((h) => h.layer === layer && h.head === head) ? 'streaming' as const : 'full' as const)));
    const visible = streamingVisibility(policy, SINKS, WINDOW);
    let logProb = 0, correct = 0;
    for (const prompt of prompts) {
        const tokens = [...prompt.documentTokens, ...prompt.tailTokens];
        const first = tokens.length - prompt.answerCount - 1;
        const positions = Array.from({ length: prompt.answerCount }, (_, i) => first + i);
        const logits = model.forward(tokens, visible, new Set(positions));
        const scores = positions.map((position) => scoreLogits(logits.get(position) ?? new Float64Array(), tokens[position + 1] ?? -1));
        logProb += scores.reduce((sum, score) => sum + score.logProb, 0);
        correct += scores.every((score) => score.greedy) ? 1 : 0;
    }
    return { logProb: logProb / prompts.length, accuracy: correct / prompts.length };
};

const started = performance.now();
const full = reference([]);
process.stderr.write(`reference, full cache: log-prob ${full.logProb.toFixed(3)}, accuracy ${full.accuracy}\n`);
const layers = model.nLayer;
const truth: number[][] = [];
for (let l = 0; l < layers; l++) {
    const row: number[] = [];
    for (let h = 0; h < model.nHeadKv; h++) {
        const ablated = reference([{ layer: l, head: h }]);
        row.push(full.logProb - ablated.logProb);
        process.stderr.write(`reference, layer ${l} KV head ${h} streaming: drop ${(full.logProb - ablated.logProb).toFixed(3)}, accuracy ${ablated.accuracy}\n`);
    }
    truth.push(row);
}
const referenceSeconds = (performance.now() - started) / 1000;

const evictionStarted = performance.now();
const ablator = await evictionAblator(loaded, prompts);
const window = { sinks: SINKS, window: WINDOW };
const evictionFull = await ablator.measure([], window);
const evicted: number[][] = [];
for (let l = 0; l < layers; l++) {
    const row: number[] = [];
    for (let h = 0; h < model.nHeadKv; h++) row.push(evictionFull.logProb - (await ablator.measure([{ layer: l, head: h }], window)).logProb);
    evicted.push(row);
}
const evictionSeconds = (performance.now() - evictionStarted) / 1000;

// What budgets rest on: every head streaming except the top k (by the eviction ranking).
const ranked = rankHeads(evicted);
const keepTop = [];
for (const k of [0, 1, 2, 4]) {
    const streaming = ranked.slice(k).map(({ layer, head }) => ({ layer, head }));
    const truthQuality = reference(streaming);
    const evictionQuality = await ablator.measure(streaming, window);
    keepTop.push({ fullHeads: ranked.slice(0, k).map((h) => `L${h.layer}H${h.head}`), streamingReference: truthQuality, eviction: evictionQuality });
    process.stderr.write(`keep top ${k} full: reference accuracy ${truthQuality.accuracy}, eviction accuracy ${evictionQuality.accuracy}\n`);
}
await ablator.dispose();
await loaded.dispose();
const result = {
    model: modelPath.split('/').pop(), prompts: promptCount, promptTokens, sinks: SINKS, window: WINDOW,
    // The same full-cache numbers from both sides: the reference forward pass matches llama.cpp.
    fullCache: { reference: full, llamaCpp: evictionFull },
    streamingReference: { scores: truth, ranking: rankHeads(truth).map((h) => `L${h.layer}H${h.head}`), seconds: Math.round(referenceSeconds) },
    eviction: { scores: evicted, ranking: ranked.map((h) => `L${h.layer}H${h.head}`), seconds: Math.round(evictionSeconds) },
    keepTop,
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
if (outPath != null) await writeFile(outPath, `${JSON.stringify(result, null, 2)}\n`);
