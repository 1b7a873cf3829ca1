// Does the profiler's eviction emulation rank KV heads as true streaming heads would?
// A plain TypeScript forward pass of an F32 llama GGUF (organism.gguf) with per-head
// attention masks gives the ground truth: ablated heads see only sinks + window at every
// position, prompt included. Both methods score the profiler's prompts; the per-head scores
// and the accuracy with all but the top heads streaming are compared.
//   node bench/evictionVsStreaming.ts [model.gguf] [prompts] [tokens] [out.json]
import { writeFile } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { readGgufFileInfo, type Token } from 'node-llama-cpp';
import { loadModelWithKv } from '../engine/load.ts';
import { ANSWER_ROOM, evictionAblator, profilePrompts, rankHeads } from '../engine/profiler/headProfiler.ts';
import type { HeadRef } from '../engine/profiler/kvStateEviction.ts';
import type { ScoredPrompt } from '../engine/profiler/prompting.ts';
import { ORGANISM } from '../test/support/models.ts';

const modelPath = process.argv[2] ?? ORGANISM;
const promptCount = Number(process.argv[3] ?? 4);
const promptTokens = Number(process.argv[4] ?? 768);
const outPath = process.argv[5];
const SINKS = 4;
const WINDOW = 64;

interface Weights {
    nEmbd: number; nHead: number; nKv: number; headDim: number; nFf: number; eps: number; ropeBase: number; vocab: number;
    tokEmbd: Float32Array; outNorm: Float32Array; output: Float32Array;
    layers: { attnNorm: Float32Array; q: Float32Array; k: Float32Array; v: Float32Array; o: Float32Array; ffnNorm: Float32Array; gate: Float32Array; up: Float32Array; down: Float32Array }[];
}

async function readWeights(file: string): Promise<Weights> {
    const info = await readGgufFileInfo(file, { readTensorInfo: true });
    const handle = await open(file, 'r');
    const tensor = async (name: string) => {
        const t = info.tensorInfo!.find((x) => x.name === name);
        if (t == null || t.ggmlType !== 0) throw new Error(`${name}: missing or not F32`);
        const count = t.dimensions.reduce<number>((a, b) => a * Number(b), 1);
        const buffer = Buffer.alloc(count * 4);
        await handle.read(buffer, 0, buffer.length, Number(t.fileOffset));
        return new Float32Array(buffer.buffer, buffer.byteOffset, count);
    };
    const arch = info.architectureMetadata as unknown as { embedding_length: number; block_count: number; feed_forward_length: number; attention: { head_count: number; head_count_kv: number; layer_norm_rms_epsilon: number }; rope?: { freq_base?: number } };
    const layers = [];
    for (let l = 0; l < arch.block_count; l++) {
        const b = `blk.${l}.`;
        layers.push({
            attnNorm: await tensor(`${b}attn_norm.weight`), q: await tensor(`${b}attn_q.weight`), k: await tensor(`${b}attn_k.weight`),
            v: await tensor(`${b}attn_v.weight`), o: await tensor(`${b}attn_output.weight`), ffnNorm: await tensor(`${b}ffn_norm.weight`),
            gate: await tensor(`${b}ffn_gate.weight`), up: await tensor(`${b}ffn_up.weight`), down: await tensor(`${b}ffn_down.weight`),
        });
    }
    const tokEmbd = await tensor('token_embd.weight');
    const output = info.tensorInfo!.some((t) => t.name === 'output.weight') ? await tensor('output.weight') : tokEmbd;
    const weights: Weights = {
        nEmbd: arch.embedding_length, nHead: arch.attention.head_count, nKv: arch.attention.head_count_kv,
        headDim: arch.embedding_length / arch.attention.head_count, nFf: arch.feed_forward_length,
        eps: arch.attention.layer_norm_rms_epsilon, ropeBase: arch.rope?.freq_base ?? 10000,
        vocab: tokEmbd.length / arch.embedding_length, tokEmbd, outNorm: await tensor('output_norm.weight'), output, layers,
    };
    await handle.close();
    return weights;
}

/** out[o] = Σ_i W[o·n + i] x[i] for each of T rows of x. */
function matmul(x: Float32Array, T: number, n: number, w: Float32Array, m: number): Float32Array {
    const out = new Float32Array(T * m);
    for (let t = 0; t < T; t++) {
        const xo = t * n;
        for (let o = 0; o < m; o++) {
            let sum = 0;
            const wo = o * n;
            for (let i = 0; i < n; i++) sum += w[wo + i] * x[xo + i];
            out[t * m + o] = sum;
        }
    }
    return out;
}

function rmsNorm(x: Float32Array, T: number, n: number, weight: Float32Array, eps: number): Float32Array {
    const out = new Float32Array(T * n);
    for (let t = 0; t < T; t++) {
        let ss = 0;
        for (let i = 0; i < n; i++) ss += x[t * n + i] ** 2;
        const scale = 1 / Math.sqrt(ss / n + eps);
        for (let i = 0; i < n; i++) out[t * n + i] = x[t * n + i] * scale * weight[i];
    }
    return out;
}

/** llama.cpp's NORM rope: adjacent pairs rotated by pos · base^(−2i/d). */
function rope(x: Float32Array, T: number, heads: number, headDim: number, base: number): void {
    for (let t = 0; t < T; t++) {
        for (let h = 0; h < heads; h++) {
            for (let i = 0; i < headDim; i += 2) {
                const angle = t * base ** (-i / headDim);
                const c = Math.cos(angle), s = Math.sin(angle);
                const at = (t * heads + h) * headDim + i;
                const x0 = x[at], x1 = x[at + 1];
                x[at] = x0 * c - x1 * s;
                x[at + 1] = x0 * s + x1 * c;
            }
        }
    }
}

/** Log-probabilities of `targets` at `positions`, with `streaming` KV heads masked to sinks + window everywhere. */
function referenceLogProbs(w: Weights, tokens: Token[], positions: number[], targets: Token[], streaming: Set<string>): { logProbs: number[]; argmax: number[] } {
    const T = tokens.length, D = w.nEmbd, hd = w.headDim, kvDim = w.nKv * hd, group = w.nHead / w.nKv;
    let x = new Float32Array(T * D);
    tokens.forEach((token, t) => x.set(w.tokEmbd.subarray(token * D, (token + 1) * D), t * D));
    const scores = new Float32Array(T);
    for (const [l, layer] of w.layers.entries()) {
        const h = rmsNorm(x, T, D, layer.attnNorm, w.eps);
        const q = matmul(h, T, D, layer.q, D);
        const k = matmul(h, T, D, layer.k, kvDim);
        const v = matmul(h, T, D, layer.v, kvDim);
        rope(q, T, w.nHead, hd, w.ropeBase);
        rope(k, T, w.nKv, hd, w.ropeBase);
        const attn = new Float32Array(T * D);
        for (let head = 0; head < w.nHead; head++) {
            const kv = Math.floor(head / group);
            const isStreaming = streaming.has(`${l}:${kv}`);
            for (let i = 0; i < T; i++) {
                let max = -Infinity;
                const qo = (i * w.nHead + head) * hd;
                for (let j = 0; j <= i; j++) {
                    if (isStreaming && j >= SINKS && i - j >= WINDOW) { scores[j] = -Infinity; continue; }
                    let dot = 0;
                    const ko = j * kvDim + kv * hd;
                    for (let d = 0; d < hd; d++) dot += q[qo + d] * k[ko + d];
                    scores[j] = dot / Math.sqrt(hd);
                    if (scores[j] > max) max = scores[j];
                }
                let sum = 0;
                for (let j = 0; j <= i; j++) { scores[j] = scores[j] === -Infinity ? 0 : Math.exp(scores[j] - max); sum += scores[j]; }
                const ao = i * D + head * hd;
                for (let j = 0; j <= i; j++) {
                    if (scores[j] === 0) continue;
                    const p = scores[j] / sum, vo = j * kvDim + kv * hd;
                    for (let d = 0; d < hd; d++) attn[ao + d] += p * v[vo + d];
                }
            }
        }
        const o = matmul(attn, T, D, layer.o, D);
        for (let i = 0; i < x.length; i++) x[i] += o[i];
        const h2 = rmsNorm(x, T, D, layer.ffnNorm, w.eps);
        const gate = matmul(h2, T, D, layer.gate, w.nFf);
        const up = matmul(h2, T, D, layer.up, w.nFf);
        for (let i = 0; i < gate.length; i++) gate[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
        const down = matmul(gate, T, w.nFf, layer.down, D);
        const next = new Float32Array(T * D);
        for (let i = 0; i < x.length; i++) next[i] = x[i] + down[i];
        x = next;
    }
    const logProbs: number[] = [];
    const argmax: number[] = [];
    positions.forEach((position, n) => {
        const normed = rmsNorm(x.subarray(position * D, (position + 1) * D), 1, D, w.outNorm, w.eps);
        const logits = matmul(normed, 1, D, w.output, w.vocab);
        let max = -Infinity, best = 0;
        logits.forEach((value, index) => { if (value > max) { max = value; best = index; } });
        let sum = 0;
        for (const value of logits) sum += Math.exp(value - max);
        logProbs.push(logits[targets[n]] - max - Math.log(sum));
        argmax.push(best);
    });
    return { logProbs, argmax };
}

const weights = await readWeights(modelPath);
// The profiler's own prompts (same seed), scored by both methods.
const loaded = await loadModelWithKv(modelPath, { contextSize: promptTokens + ANSWER_ROOM, kv: { mode: 'off', sinks: 4, window: 128, offload: 'auto' } });
const prompts: ScoredPrompt[] = await profilePrompts(loaded.model, promptCount, promptTokens, 1);

const reference = (heads: readonly HeadRef[]) => {
    const streaming = new Set(heads.map((h) => `${h.layer}:${h.head}`));
    let logProb = 0, correct = 0;
    for (const prompt of prompts) {
        const tokens = [...prompt.documentTokens, ...prompt.tailTokens];
        const first = tokens.length - prompt.answerCount - 1;
        const positions = Array.from({ length: prompt.answerCount }, (_, i) => first + i);
        const targets = positions.map((p) => tokens[p + 1]);
        const { logProbs, argmax } = referenceLogProbs(weights, tokens, positions, targets, streaming);
        logProb += logProbs.reduce((a, b) => a + b, 0);
        correct += argmax.every((token, i) => token === targets[i]) ? 1 : 0;
    }
    return { logProb: logProb / prompts.length, accuracy: correct / prompts.length };
};

const started = performance.now();
const full = reference([]);
process.stderr.write(`reference, full cache: log-prob ${full.logProb.toFixed(3)}, accuracy ${full.accuracy}\n`);
const layers = weights.layers.length;
const truth: number[][] = [];
for (let l = 0; l < layers; l++) {
    const row: number[] = [];
    for (let h = 0; h < weights.nKv; h++) {
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
    for (let h = 0; h < weights.nKv; h++) row.push(evictionFull.logProb - (await ablator.measure([{ layer: l, head: h }], window)).logProb);
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
