// KV memory and speed per cache mode: for each context length, the stock cache and each compressed
// mode × head layout × full-head placement ("sides"), with their KV bytes on the GPU and in CPU RAM,
// prefill and decode tokens per second, all in one run. The model's weights load once; each side
// gets its own context, warmed up untimed, then every side runs once per round, the order
// alternating from round to round (bench/method.ts), and each rate is reported as min / median /
// max over the rounds. Decode divides by the tokens it generated.
import path from 'node:path';
import type { LlamaContext, LlamaContextSequence, Token } from 'node-llama-cpp';
import { HeadroomError } from '../common/errors.ts';
import { KV_OFF, KvOptions, type KvOffload } from '../common/kv/policy.ts';
import { attentionFromMetadata, type KvCacheType } from '../common/modelShape.ts';
import { kvLabel } from '../common/niah.ts';
import { createModelContext, openModel, requireCompression, type LoadedModel, type OpenedModel } from '../engine/load.ts';
import { modelSha256 } from '../engine/modelHash.ts';
import { loadFiller } from '../engine/profiler/haystack.ts';
import { computeDevice, deviceName, deviceTitle, runtime } from '../engine/runtime.ts';
import { kvStatsOf } from '../engine/stats.ts';
import { groupedBarsSvg } from './charts.ts';
import { layoutLabel, mixedLayers, profileForLayout, type BenchLayout } from './layouts.ts';
import { schedule, spread, timeDecode } from './method.ts';
import { KvBenchResult, writeRun, type KvBenchRun } from './results.ts';

export interface KvBenchOptions {
    modelPath: string;
    lengths: number[];
    /** off and compressed modes; off runs once, each compressed mode once per layout and placement. */
    modes: KvOptions[];
    /** Which heads compressed modes keep full (default: what a load finds, else the fallback order). */
    layouts?: BenchLayout[];
    /** Where compressed modes keep their full heads (default: the modes' own offload). */
    offloads?: KvOffload[];
    /** Cache types to measure every mode at (default f16). */
    kvTypes?: KvCacheType[];
    decodeTokens?: number;
    /** Rounds: each side is timed once per round, in alternating order. */
    repeats?: number;
    /** CPU threads (default: the engine's choice for the model). */
    threads?: number;
    log?: (line: string) => void;
}

/** off, then the compressed modes at half and a quarter of the stock cache. */
export const DEFAULT_BENCH_MODES: KvOptions[] = [KV_OFF, KvOptions.parse({ mode: 'budget', budget: 0.5 }), KvOptions.parse({ mode: 'budget', budget: 0.25 })];

/** The untimed warm-up each side gets before the rounds: a short prefill and a few decoded tokens. */
export const WARMUP = { prefillTokens: 256, decodeTokens: 4 };

/** One thing measured: the stock cache, or a compressed mode with a layout and a placement. */
interface Side {
    kv: KvOptions;
    layout: BenchLayout | null;
    label: string;
}

/** The sides of a run, in round-one order: the stock cache first, then each layout's modes (and placements) in the order given. */
export function benchSides(modes: readonly KvOptions[], layouts: readonly BenchLayout[], offloads?: readonly KvOffload[]): Side[] {
    const sides: Side[] = [];
    if (modes.some((m) => m.mode === 'off')) sides.push({ kv: KV_OFF, layout: null, label: 'off' });
    const compressed = modes.filter((m) => m.mode !== 'off');
    for (const layout of layouts) for (const mode of compressed) for (const offload of offloads ?? [mode.offload]) {
        const kv = { ...mode, offload };
        const placement = offloads != null && offloads.length > 1 ? ` [${offload}]` : '';
        sides.push({ kv, layout, label: `${kvLabel(kv)} ${layoutLabel(layout)}${placement}` });
    }
    return sides;
}

/** A context on the opened model with the model's fields, as kvStatsOf reads a load. */
type SideContext = { side: Side; loaded: LoadedModel; sequence: LlamaContextSequence; note: string | null };

async function timePrefill(sequence: LlamaContextSequence, tokens: Token[]): Promise<number> {
    await sequence.clearHistory();
    const start = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(tokens);
    return (performance.now() - start) / 1000;
}

/**
 * Patch 0005's counter of bytes the scheduler copied between backends, read through llama_perf_context_print
 * (which also resets it). node-llama-cpp's printTimings() refuses a context made without performance tracking,
 * which only turns llama.cpp's timers on; the counter runs either way, so this calls the addon's method itself.
 */
class CopyCounter {
    #last: number | null = null;
    readonly stop: () => void;
    constructor() {
        this.stop = runtime.listen((line) => {
            const copies = /backend copies = +(\d+) bytes/.exec(line);
            if (copies != null) this.#last = Number(copies[1]);
        });
    }

    /** Bytes copied since the last read; null where the build does not count them. */
    async read(context: LlamaContext): Promise<number | null> {
        const addon = (context as unknown as { _ctx?: { printTimings?: () => void } })._ctx;
        if (addon?.printTimings == null) return null;
        this.#last = null;
        addon.printTimings();
        // log lines travel asynchronously
        for (let waited = 0; this.#last == null && waited < 500; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
        return this.#last;
    }
}

export async function runKvBench(options: KvBenchOptions): Promise<KvBenchResult> {
    const log = options.log ?? (() => {});
    const decodeTokens = options.decodeTokens ?? 64;
    const rounds = options.repeats ?? 3;
    const layouts = options.layouts ?? [{ kind: 'found' as const }];
    const sides = benchSides(options.modes, layouts, options.offloads);
    const runs: KvBenchRun[] = [];
    const skipped: KvBenchResult['skipped'] = [];
    const order: NonNullable<KvBenchResult['method']>['order'] = [];
    let device = 'unknown';
    const filler = loadFiller();
    const { llama } = await runtime.get();
    const compute = computeDevice(llama);
    const opened: OpenedModel = await openModel({ path: options.modelPath });
    const counter = new CopyCounter();
    try {
        const attention = attentionFromMetadata(opened.metadata);
        const profiles = new Map<BenchLayout, Awaited<ReturnType<typeof profileForLayout>>>();
        for (const layout of layouts) {
            profiles.set(layout, await profileForLayout(layout, { sha256: () => modelSha256(options.modelPath), layers: attention.layers, kvHeads: attention.kvHeads }));
        }
        for (const length of options.lengths) for (const kvType of options.kvTypes ?? ['f16' as const]) {
            let text = filler;
            while (opened.model.tokenize(text).length < length) text += `\n\n${filler}`;
            const tokens = opened.model.tokenize(text).slice(0, length);
            const last = tokens.at(-1);
            if (last == null || tokens.length < length) throw new HeadroomError('BAD_REQUEST', `The filler holds no ${length} tokens.`);
            const contexts: SideContext[] = [];
            try {
                for (const side of sides) {
                    const found = side.layout == null ? null : profiles.get(side.layout);
                    try {
                        const created = await createModelContext(opened, {
                            contextSize: length + decodeTokens + WARMUP.decodeTokens, kv: side.kv, kvCacheType: kvType,
                            // A quantized V cache needs flash attention; f16 runs as the app runs it (automatic).
                            flashAttention: kvType === 'f16' ? 'auto' : 'on',
                            ...(found?.profile !== undefined ? { profile: found.profile } : {}),
                            ...(options.threads != null ? { threads: options.threads } : {}),
                        });
                        const { dispose: disposeModel, measured: weights, ...model } = opened;
                        void disposeModel;
                        const loaded: LoadedModel = {
                            ...model, ...created,
                            measured: { kv: created.measured.kv, weights: weights.weights, compute: created.measured.compute },
                            dispose: created.dispose,
                        };
                        contexts.push({ side, loaded: side.kv.mode === 'off' ? loaded : await requireCompression(loaded), sequence: created.context.getSequence(), note: found?.note ?? null });
                    } catch (error) {
                        if (!(error instanceof HeadroomError) || !['NOT_AVAILABLE', 'NOT_FOUND', 'BAD_REQUEST'].includes(error.code)) throw error;
                        skipped.push({ mode: kvLabel(side.kv), kvType, budget: side.kv.budget ?? 1, contextTokens: length, reason: error.message, layout: side.layout == null ? null : layoutLabel(side.layout) });
                        log(`${length} tokens, ${side.label} ${kvType}: skipped (${error.message})`);
                    }
                }
                // warm-up: each side once, untimed, so that first-use costs (pages, graphs) fall outside the rounds
                for (const { sequence } of contexts) {
                    await timePrefill(sequence, tokens.slice(0, Math.min(WARMUP.prefillTokens, length - 1)));
                    await timeDecode(sequence, last, WARMUP.decodeTokens);
                }
                const samples = new Map<SideContext, { prefill: number[]; decode: number[]; generated: number[]; copyPrefill: number[]; copyDecode: number[] }>(
                    contexts.map((c) => [c, { prefill: [], decode: [], generated: [], copyPrefill: [], copyDecode: [] }]));
                const plan = schedule(contexts, rounds);
                order.push({ contextTokens: length, kvType, rounds: plan.map((round) => round.map((c) => c.side.label)) });
                for (const [r, round] of plan.entries()) {
                    for (const c of round) {
                        const s = samples.get(c);
                        if (s == null) continue;
                        const { context } = c.loaded;
                        await counter.read(context);
                        s.prefill.push((length - 1) / await timePrefill(c.sequence, tokens.slice(0, length - 1)));
                        const prefillCopies = await counter.read(context);
                        const decoded = await timeDecode(c.sequence, last, decodeTokens);
                        const decodeCopies = await counter.read(context);
                        s.decode.push(decoded.tokPerSec);
                        s.generated.push(decoded.tokens);
                        if (prefillCopies != null && decodeCopies != null) {
                            s.copyPrefill.push(prefillCopies / (length - 1));
                            s.copyDecode.push(decodeCopies / decoded.tokens);
                        }
                        log(`${length} tokens, ${c.side.label} ${kvType}, round ${r + 1}/${rounds}: prefill ${s.prefill.at(-1)?.toFixed(1)} tok/s, decode ${decoded.tokPerSec.toFixed(2)} tok/s (${decoded.tokens} tokens)`);
                    }
                }
                for (const c of contexts) {
                    const s = samples.get(c);
                    if (s == null) continue;
                    const { loaded, side } = c;
                    const { allocated, planned, policy } = kvStatsOf(loaded, llama, 0);
                    const gpuName = compute === 'gpu' ? (await llama.getGpuDeviceNames())[0] ?? null : null;
                    device = deviceName(compute, gpuName, loaded.context.currentThreads);
                    const { resolved } = loaded.kv;
                    const prefill = spread(s.prefill);
                    const decode = spread(s.decode);
                    const run: KvBenchRun = {
                        mode: kvLabel(side.kv), kvType, budget: resolved?.budget ?? 1, contextTokens: length,
                        kvBytes: { gpu: allocated.gpu, cpu: allocated.cpu },
                        kvBytesFormula: { gpu: planned.gpu, cpu: planned.cpu },
                        // llama.cpp's stock size lines name no cell count
                        kvBuffers: allocated.buffers.map((b) => ({ ...b, cells: b.kind === 'stock' ? null : b.cells })),
                        fullHeads: policy.flat().filter((p) => p === 'full').length,
                        totalHeads: policy.flat().length,
                        headOrder: resolved == null ? null : resolved.profile != null ? 'profile' : 'fallback',
                        prefillTokPerSec: prefill.median, decodeTokPerSec: decode.median,
                        layout: side.layout == null ? null : layoutLabel(side.layout),
                        layoutNote: c.note,
                        mixedLayers: mixedLayers(resolved?.plan ?? null),
                        fullPlacement: resolved?.plan.fullPlacement ?? compute,
                        ubatch: loaded.context.batchSize,
                        prefill, decode,
                        decodeTokens: s.generated,
                        copyBytesPerToken: s.copyDecode.length === 0 ? null : { prefill: spread(s.copyPrefill).median, decode: spread(s.copyDecode).median },
                    };
                    runs.push(run);
                    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(2);
                    log(`${length} tokens, ${side.label} ${kvType}: ${run.fullHeads}/${run.totalHeads} heads full, ${run.mixedLayers} mixed layers, KV ${mib(allocated.gpu)} MiB GPU + ${mib(allocated.cpu)} MiB CPU (formula ${mib(planned.gpu + planned.cpu)} MiB), `
                        + `prefill ${prefill.median.toFixed(1)} [${prefill.min.toFixed(1)}–${prefill.max.toFixed(1)}] tok/s, decode ${decode.median.toFixed(2)} [${decode.min.toFixed(2)}–${decode.max.toFixed(2)}] tok/s`);
                }
            } finally {
                for (const c of contexts) {
                    await c.sequence.dispose();
                    await c.loaded.dispose();
                }
            }
        }
    } finally {
        counter.stop();
        await opened.dispose();
    }
    return KvBenchResult.parse({
        model: path.basename(options.modelPath), device, runs, skipped,
        method: { rounds, decodeTokens, warmup: `each side once, untimed: a ${WARMUP.prefillTokens}-token prefill and ${WARMUP.decodeTokens} decoded tokens`, order },
        createdAt: new Date().toISOString(),
    });
}

/** A run's name in charts and tables: its mode, and its layout and placement where the run had several. */
export function runLabel(run: Pick<KvBenchRun, 'mode' | 'layout' | 'fullPlacement'>, withPlacement = false): string {
    if (run.mode === 'off') return 'off';
    return `${run.mode}${run.layout != null ? ` ${run.layout}` : ''}${withPlacement && run.fullPlacement != null ? ` [${run.fullPlacement}]` : ''}`;
}

export function kvBenchSvg(result: KvBenchResult): string {
    const all = [...result.runs, ...result.skipped];
    const lengths = [...new Set(all.map((r) => r.contextTokens))].sort((a, b) => a - b);
    // one series per mode, layout and placement, and per cache type when the run had several (--kv-types)
    const byType = new Set(all.map((r) => r.kvType)).size > 1;
    const byPlacement = new Set(result.runs.filter((r) => r.mode !== 'off').map((r) => r.fullPlacement)).size > 1;
    const seriesOf = (r: { mode: string; kvType: string; layout?: string | null | undefined; fullPlacement?: 'gpu' | 'cpu' | undefined }) => {
        const name = runLabel({ mode: r.mode, layout: r.layout ?? null, ...(r.fullPlacement != null ? { fullPlacement: r.fullPlacement } : {}) }, byPlacement);
        return byType ? `${r.kvType} ${name}` : name;
    };
    const keys = [...new Set(all.map(seriesOf))];
    const pick = <T>(f: (run: KvBenchRun) => T) => keys.map((key) => lengths.map((length) => {
        const run = result.runs.find((r) => seriesOf(r) === key && r.contextTokens === length);
        return run == null ? null : f(run);
    }));
    const value = (f: (run: KvBenchRun) => number) => pick(f);
    const range = (f: (run: KvBenchRun) => { min: number; max: number } | undefined) => pick((run) => {
        const s = f(run);
        return s == null ? null : [s.min, s.max] as [number, number];
    });
    const series = keys.map((key) => result.runs.some((r) => seriesOf(r) === key) ? key : `${key} (not available)`);
    const rounds = result.method != null ? `, median of ${result.method.rounds} alternating rounds (bars: min–max)` : '';
    return groupedBarsSvg({
        title: `KV cache modes: ${result.model} on ${deviceTitle(result.device)}${rounds}`,
        groups: lengths.map(String),
        groupLabel: 'context length (tokens)',
        series,
        panels: [
            { title: 'KV on GPU', yLabel: 'MiB', values: value((r) => r.kvBytes.gpu / 2 ** 20) },
            { title: 'KV in CPU RAM', yLabel: 'MiB', values: value((r) => r.kvBytes.cpu / 2 ** 20) },
            { title: 'Prefill', yLabel: 'tokens / s', values: value((r) => r.prefillTokPerSec), ranges: range((r) => r.prefill) },
            { title: 'Decode', yLabel: 'tokens / s', values: value((r) => r.decodeTokPerSec), ranges: range((r) => r.decode) },
        ],
    });
}

export function writeKvBenchOutputs(result: KvBenchResult, outDir: string): Promise<{ json: string; png: string }> {
    return writeRun(outDir, 'kv-bench', result, kvBenchSvg(result));
}
