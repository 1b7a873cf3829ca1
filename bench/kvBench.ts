// KV memory and speed per cache mode: for each context length and mode, the KV bytes on the
// GPU and in CPU RAM, prefill and decode tokens per second, all measured in one run.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { LlamaContextSequence, Token } from 'node-llama-cpp';
import type { HeadProfile, KvOptions } from '../common/kv/policy.ts';
import { HeadroomError } from '../common/rpc.ts';
import { groupedBarsSvg } from './charts.ts';
import { svgToPng } from './svgPng.ts';
import { deviceName, kvLabel } from './cliArgs.ts';
import { kvBytesOf, loadModelWithKv } from '../engine/load.ts';
import { loadFiller } from '../engine/profiler/haystack.ts';
import { KvBenchResult, type KvBenchRun } from './results.ts';

export interface KvBenchOptions {
    modelPath: string;
    lengths: number[];
    modes: KvOptions[];
    profile?: HeadProfile | null;
    decodeTokens?: number;
    repeats?: number;
    log?(line: string): void;
}

const KV_DEFAULTS = { sinks: 4, window: 128, offload: 'auto' } as const;

/** off, then the compressed modes at half and a quarter of the stock cache. */
export const DEFAULT_BENCH_MODES: KvOptions[] = [
    { mode: 'off', ...KV_DEFAULTS },
    { mode: 'budget', budget: 0.5, ...KV_DEFAULTS },
    { mode: 'budget', budget: 0.25, ...KV_DEFAULTS },
];

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function timePrefill(sequence: LlamaContextSequence, tokens: Token[]): Promise<number> {
    await sequence.clearHistory();
    const start = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(tokens);
    return (performance.now() - start) / 1000;
}

/** Greedy decoding of `count` tokens after the evaluated history; EOS does not stop it. */
async function timeDecode(sequence: LlamaContextSequence, lastToken: Token, count: number): Promise<number> {
    let generated = 0;
    const start = performance.now();
    for await (const _ of sequence.evaluate([lastToken], { temperature: 0 })) {
        if (++generated >= count) break;
    }
    return (performance.now() - start) / 1000;
}

export async function runKvBench(options: KvBenchOptions): Promise<KvBenchResult> {
    const log = options.log ?? (() => {});
    const decodeTokens = options.decodeTokens ?? 64;
    const repeats = options.repeats ?? 3;
    const runs: KvBenchRun[] = [];
    const skipped: KvBenchResult['skipped'] = [];
    let device = 'unknown';
    const filler = loadFiller();
    for (const length of options.lengths) {
        for (const kv of options.modes) {
            const budget = kv.mode === 'off' ? 1 : kv.mode === 'budget' ? kv.budget ?? 0.5 : options.profile?.recommendedBudget ?? 1;
            let loaded;
            try {
                // Which heads stay full does not change bytes or speed: without a profile, the engine's fallback order.
                loaded = await loadModelWithKv(options.modelPath, { contextSize: length + decodeTokens, kv, profile: options.profile, fallbackOrder: true });
            } catch (error) {
                if (!(error instanceof HeadroomError) || (error.code !== 'NOT_AVAILABLE' && error.code !== 'NOT_FOUND')) throw error;
                skipped.push({ mode: kvLabel(kv), budget, contextTokens: length, reason: error.message });
                log(`${length} tokens, kv ${kvLabel(kv)}: skipped (${error.message})`);
                continue;
            }
            try {
                const { model, context } = loaded;
                let text = filler;
                while (model.tokenize(text).length < length) text += `\n\n${filler}`;
                const tokens = model.tokenize(text).slice(0, length);
                const sequence = context.getSequence();
                // One short pass first so that one-time setup does not count as prefill.
                await timePrefill(sequence, tokens.slice(0, Math.min(64, length - 1)));
                const prefill: number[] = [];
                const decode: number[] = [];
                for (let r = 0; r < repeats; r++) {
                    prefill.push((length - 1) / await timePrefill(sequence, tokens.slice(0, length - 1)));
                    decode.push(decodeTokens / await timeDecode(sequence, tokens[length - 1], decodeTokens));
                }
                const bytes = kvBytesOf(loaded);
                const gpuName = loaded.compute === 'gpu' ? (await loaded.llama.getGpuDeviceNames())[0] ?? null : null;
                device = deviceName(loaded.compute, gpuName, context.currentThreads);
                const totalHeads = loaded.shape.layers * loaded.shape.kvHeads;
                const run: KvBenchRun = {
                    mode: kvLabel(kv), budget, contextTokens: length,
                    kvBytes: { gpu: bytes.gpu, cpu: bytes.cpu },
                    kvBytesFormula: { gpu: bytes.formula.gpu, cpu: bytes.formula.cpu },
                    kvBuffers: bytes.buffers,
                    fullHeads: loaded.plan == null ? totalHeads : loaded.plan.policy.flat().filter((p) => p === 'full').length,
                    totalHeads,
                    headOrder: loaded.plan == null ? null : options.profile != null ? 'profile' : 'fallback',
                    prefillTokPerSec: median(prefill), decodeTokPerSec: median(decode),
                };
                runs.push(run);
                log(`${length} tokens, kv ${run.mode}: ${run.fullHeads}/${totalHeads} heads full, KV ${(bytes.gpu / 2 ** 20).toFixed(2)} MiB GPU + ${(bytes.cpu / 2 ** 20).toFixed(2)} MiB CPU (formula ${((bytes.formula.gpu + bytes.formula.cpu) / 2 ** 20).toFixed(2)} MiB), prefill ${run.prefillTokPerSec.toFixed(0)} tok/s, decode ${run.decodeTokPerSec.toFixed(0)} tok/s`);
                sequence.dispose();
            } finally {
                await loaded.dispose();
            }
        }
    }
    return KvBenchResult.parse({ model: path.basename(options.modelPath), device, runs, skipped, createdAt: new Date().toISOString() });
}

export function kvBenchSvg(result: KvBenchResult): string {
    const lengths = [...new Set([...result.runs, ...result.skipped].map((r) => r.contextTokens))].sort((a, b) => a - b);
    const modes = [...new Set([...result.runs, ...result.skipped].map((r) => r.mode))];
    const value = (pick: (run: KvBenchRun) => number) => modes.map((mode) => lengths.map((length) => {
        const run = result.runs.find((r) => r.mode === mode && r.contextTokens === length);
        return run == null ? null : pick(run);
    }));
    const series = modes.map((mode) => result.runs.some((r) => r.mode === mode) ? mode : `${mode} (not available)`);
    return groupedBarsSvg({
        title: `KV cache modes: ${result.model} on ${result.device.split(',')[0]}`,
        groups: lengths.map(String),
        groupLabel: 'context length (tokens)',
        series,
        panels: [
            { title: 'KV on GPU', yLabel: 'MiB', values: value((r) => r.kvBytes.gpu / 2 ** 20) },
            { title: 'KV in CPU RAM', yLabel: 'MiB', values: value((r) => r.kvBytes.cpu / 2 ** 20) },
            { title: 'Prefill', yLabel: 'tokens / s', values: value((r) => r.prefillTokPerSec) },
            { title: 'Decode', yLabel: 'tokens / s', values: value((r) => r.decodeTokPerSec) },
        ],
    });
}

export async function writeKvBenchOutputs(result: KvBenchResult, outDir: string): Promise<{ json: string; png: string }> {
    await mkdir(outDir, { recursive: true });
    const json = path.join(outDir, 'kv-bench.json');
    const png = path.join(outDir, 'kv-bench.png');
    await writeFile(json, `${JSON.stringify(result, null, 2)}\n`);
    await writeFile(png, svgToPng(kvBenchSvg(result)));
    return { json, png };
}
