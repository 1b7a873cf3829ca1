// KV memory and speed per cache mode: for each context length and mode, the KV bytes on the
// GPU and in CPU RAM, prefill and decode tokens per second, all measured in one run.
import path from 'node:path';
import type { LlamaContextSequence, Token } from 'node-llama-cpp';
import { HeadroomError } from '../common/errors.ts';
import { KV_OFF, KvOptions, type FoundProfile } from '../common/kv/policy.ts';
import type { KvCacheType } from '../common/modelShape.ts';
import { kvLabel } from '../common/niah.ts';
import { loadModel, requireCompression, type LoadedModel } from '../engine/load.ts';
import { loadFiller } from '../engine/profiler/haystack.ts';
import { computeDevice, deviceName, deviceTitle, runtime } from '../engine/runtime.ts';
import { kvStatsOf } from '../engine/stats.ts';
import { groupedBarsSvg } from './charts.ts';
import { KvBenchResult, writeRun, type KvBenchRun } from './results.ts';

export interface KvBenchOptions {
    modelPath: string;
    lengths: number[];
    modes: KvOptions[];
    /** Cache types to measure every mode at (default f16). */
    kvTypes?: KvCacheType[];
    /** The profile whose heads compressed modes keep full; without one, the engine's fallback order. */
    profile?: FoundProfile | null;
    decodeTokens?: number;
    repeats?: number;
    /** CPU threads (default: the engine's choice for the model). */
    threads?: number;
    log?: (line: string) => void;
}

/** off, then the compressed modes at half and a quarter of the stock cache. */
export const DEFAULT_BENCH_MODES: KvOptions[] = [KV_OFF, KvOptions.parse({ mode: 'budget', budget: 0.5 }), KvOptions.parse({ mode: 'budget', budget: 0.25 })];

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const upper = sorted[Math.floor(sorted.length / 2)] ?? 0;
    const lower = sorted[Math.ceil(sorted.length / 2) - 1] ?? upper;
    return (lower + upper) / 2;
}

/** A model loaded with a KV mode, or why this build cannot run that mode. */
async function loadForMode(modelPath: string, contextSize: number, kv: KvOptions, kvCacheType: KvCacheType, profile: FoundProfile | null, threads?: number): Promise<LoadedModel> {
    // Which heads stay full does not change bytes or speed: without a profile, the engine's fallback order.
    // A quantized V cache needs flash attention; f16 runs as the app runs it (automatic).
    const loaded = await loadModel({ path: modelPath, contextSize, kv, kvCacheType, flashAttention: kvCacheType === 'f16' ? 'auto' : 'on', profile, ...(threads != null ? { threads } : {}) });
    return kv.mode === 'off' ? loaded : requireCompression(loaded);
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
    const tokens = sequence.evaluate([lastToken], { temperature: 0 });
    while (generated < count && !(await tokens.next()).done) generated++;
    await tokens.return(undefined);
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
    const profile = options.profile ?? null;
    const { llama } = await runtime.get();
    const compute = computeDevice(llama);
    for (const length of options.lengths) {
        for (const kvType of options.kvTypes ?? ['f16' as const]) for (const kv of options.modes) {
            let budget = kv.mode === 'budget' ? kv.budget ?? 1 : 1;
            let loaded: LoadedModel;
            try {
                loaded = await loadForMode(options.modelPath, length + decodeTokens, kv, kvType, profile, options.threads);
            } catch (error) {
                if (!(error instanceof HeadroomError) || !['NOT_AVAILABLE', 'NOT_FOUND', 'BAD_REQUEST'].includes(error.code)) throw error;
                skipped.push({ mode: kvLabel(kv), kvType, budget, contextTokens: length, reason: error.message });
                log(`${length} tokens, kv ${kvLabel(kv)} ${kvType}: skipped (${error.message})`);
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
                const last = tokens.at(-1);
                if (last == null) throw new HeadroomError('BAD_REQUEST', `The filler holds no ${length} tokens.`);
                for (let r = 0; r < repeats; r++) {
                    prefill.push((length - 1) / await timePrefill(sequence, tokens.slice(0, length - 1)));
                    decode.push(decodeTokens / await timeDecode(sequence, last, decodeTokens));
                }
                const { allocated, planned, policy } = kvStatsOf(loaded, llama, 0);
                const gpuName = compute === 'gpu' ? (await llama.getGpuDeviceNames())[0] ?? null : null;
                device = deviceName(compute, gpuName, context.currentThreads);
                const { resolved } = loaded.kv;
                budget = resolved?.budget ?? 1;
                const run: KvBenchRun = {
                    mode: kvLabel(kv), kvType, budget, contextTokens: length,
                    kvBytes: { gpu: allocated.gpu, cpu: allocated.cpu },
                    kvBytesFormula: { gpu: planned.gpu, cpu: planned.cpu },
                    // llama.cpp's stock size lines name no cell count
                    kvBuffers: allocated.buffers.map((b) => ({ ...b, cells: b.kind === 'stock' ? null : b.cells })),
                    fullHeads: policy.flat().filter((p) => p === 'full').length,
                    totalHeads: policy.flat().length,
                    headOrder: resolved == null ? null : resolved.profile != null ? 'profile' : 'fallback',
                    prefillTokPerSec: median(prefill), decodeTokPerSec: median(decode),
                };
                runs.push(run);
                const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(2);
                log(`${length} tokens, kv ${run.mode} ${kvType}: ${run.fullHeads}/${run.totalHeads} heads full, KV ${mib(allocated.gpu)} MiB GPU + ${mib(allocated.cpu)} MiB CPU (formula ${mib(planned.gpu + planned.cpu)} MiB), prefill ${run.prefillTokPerSec.toFixed(0)} tok/s, decode ${run.decodeTokPerSec.toFixed(0)} tok/s`);
                await sequence.dispose();
            } finally {
                await loaded.dispose();
            }
        }
    }
    return KvBenchResult.parse({ model: path.basename(options.modelPath), device, runs, skipped, createdAt: new Date().toISOString() });
}

export function kvBenchSvg(result: KvBenchResult): string {
    const all = [...result.runs, ...result.skipped];
    const lengths = [...new Set(all.map((r) => r.contextTokens))].sort((a, b) => a - b);
    // one series per mode, and per cache type when the run had several (--kv-types)
    const byType = new Set(all.map((r) => r.kvType)).size > 1;
    const seriesOf = (r: { mode: string; kvType: string }) => (byType ? `${r.kvType} ${r.mode}` : r.mode);
    const keys = [...new Set(all.map(seriesOf))];
    const value = (pick: (run: KvBenchRun) => number) => keys.map((key) => lengths.map((length) => {
        const run = result.runs.find((r) => seriesOf(r) === key && r.contextTokens === length);
        return run == null ? null : pick(run);
    }));
    const series = keys.map((key) => result.runs.some((r) => seriesOf(r) === key) ? key : `${key} (not available)`);
    return groupedBarsSvg({
        title: `KV cache modes: ${result.model} on ${deviceTitle(result.device)}`,
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

export function writeKvBenchOutputs(result: KvBenchResult, outDir: string): Promise<{ json: string; png: string }> {
    return writeRun(outDir, 'kv-bench', result, kvBenchSvg(result));
}
