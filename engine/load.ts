// The one way a model is loaded, by the engine, the profiler and the benchmarks alike: the
// runtime's llama.cpp build, the KV plan from the model's shape and head profile, the context
// created with it, and what llama.cpp then logged allocating. Generation, stats and memory
// plans build on what this returns. A load is its two halves, openModel (the weights, once) and
// createModelContext (a context): the profiler and the recall test create many contexts on one model.
import * as fs from 'node:fs/promises';
import path from 'node:path';
import type { LlamaContext, LlamaContextOptions, LlamaModel } from 'node-llama-cpp';
import type { EngineBuild, Params } from '../common/contract.ts';
import { errorMessage, HeadroomError, howToGetTheBuild } from '../common/errors.ts';
import { automaticContextSize, flashAttentionOption } from '../common/loadOptions.ts';
import { attentionFromMetadata, contextCellsFor, headwiseSupport, KV_CACHE_TYPES, kvCacheTypeRefusal, kvShapeFromMetadata, quantizedCacheRefusal, type KvShape } from '../common/modelShape.ts';
import type { Device, DeviceBytes } from '../common/devices.ts';
import { COMPRESSED_UBATCH, NO_PROFILE_YET, planBudget, planFromProfile, streamingCellPaddingFor, type FoundProfile, type HeadPlan, type KvMode, type ResolvedKv } from '../common/kv/policy.ts';
import type { KvCompression } from '../common/kv/usage.ts';
import { createKvContext, defaultThreads } from './kv/context.ts';
import { buildSupportsHeadwise, type ContextKvReport } from './kv/native.ts';
import { checkProfileShape, findProfile } from './kv/profiles.ts';
import { BufferLog, type MeasuredBuffers } from './llamaLog.ts';
import { backendOf, computeDevice, isPackagedApp, runtime } from './runtime.ts';
import { checkGgufFile } from '../common/ggufHeader.ts';

/** How a model file is opened: its weights, once, for one context or many. */
export interface OpenOptions {
    path: string;
    gpuLayers?: Params<'model.load'>['gpuLayers'];
    /** Load progress in [0, 1], in steps of at least a percent. */
    onProgress?: (progress: number) => void;
}

/** A context on an opened model: the KV cache as the settings (or an explicit plan) ask. */
export interface ContextOptions extends Omit<Params<'model.load'>, 'path' | 'gpuLayers'> {
    /** The head profile to plan with (null: none, the fallback order); by default kv.profile's, else the stored or shipped one. */
    profile?: FoundProfile | null;
    /** An explicit per-head plan (the profiler's checks), instead of one planned from kv's budget. */
    plan?: HeadPlan;
}

export interface LoadOptions extends OpenOptions, ContextOptions {}

/** What the KV cache runs, and what llama.cpp said about it. */
export interface LoadedKv {
    compression: KvCompression;
    /** The plan the native cache runs; null for the stock cache. */
    resolved: ResolvedKv | null;
    /** The profile the plan was (or would have been) made with, also when the cache ended up stock. */
    profile: FoundProfile | null;
    /** What llama.cpp reports of the context's cache (null on the stock binary, which cannot say). */
    report: ContextKvReport | null;
}

/** A model's weights, loaded once: the profiler creates many contexts on one. */
export interface OpenedModel {
    path: string;
    fileBytes: number;
    architecture: string;
    model: LlamaModel;
    /** The GGUF metadata, as node-llama-cpp read it. */
    metadata: Record<string, unknown>;
    /** What llama.cpp logged allocating for the weights. */
    measured: MeasuredBuffers;
    dispose: () => Promise<void>;
}

/** A context on an opened model, with its KV cache's plan and what llama.cpp allocated for it. */
export interface ModelContext {
    context: LlamaContext;
    /** The cache's geometry as llama.cpp allocated it (no layers when the metadata names no attention heads). */
    shape: KvShape;
    kv: LoadedKv;
    /** What llama.cpp logged allocating for the context: KV and compute buffers. */
    measured: MeasuredBuffers;
    dispose: () => Promise<void>;
}

export interface LoadedModel extends Omit<OpenedModel, 'dispose' | 'measured'>, Omit<ModelContext, 'dispose' | 'measured'> {
    /** What llama.cpp logged allocating for the model and the context. */
    measured: MeasuredBuffers;
    dispose: () => Promise<void>;
}

const NO_HEADS: KvCompression = { available: false, active: false, reason: 'The model\'s GGUF metadata does not describe its attention heads; the full cache is used.' };
const stockBuild = () => `This llama.cpp build has no head-level KV cache (the stock binary is loaded); ${howToGetTheBuild(isPackagedApp())}.`;
const STOCK_CHOSEN = 'The stock llama.cpp runs, as chosen in Settings (Engine): no head-level compression.';

/** Whether this build and this architecture can run the head-level cache at all. */
function kvAvailability(systemInfo: string, build: EngineBuild, architecture: string, wanted: boolean): KvCompression {
    if (!buildSupportsHeadwise(systemInfo)) return { available: false, active: false, reason: build.requested === 'stock' ? STOCK_CHOSEN : build.note ?? stockBuild() };
    const support = headwiseSupport(architecture);
    if (!support.supported) return { available: false, active: false, reason: support.reason };
    return { available: true, active: false, reason: wanted ? null : 'Compression is off.' };
}

/** What the native side did with the plan, as the context reports it. */
function kvOutcome(compression: KvCompression, resolved: ResolvedKv | null, report: ContextKvReport | null, profile: FoundProfile | null, architecture: string): LoadedKv {
    if (resolved == null) return { compression, resolved: null, profile, report };
    if (report?.headwise !== true) {
        const reason = `llama.cpp cannot use the head-level cache for this ${architecture} model${report?.reason != null ? ` (${report.reason})` : ''}; the full cache is used.`;
        return { compression: { available: false, active: false, reason }, resolved: null, profile, report };
    }
    return { compression: { available: true, active: true, reason: null }, resolved, profile, report };
}

/** Error lines llama.cpp logs while a context is made, for the cause of a failure. */
const OUT_OF_MEMORY = /out of memory|failed to allocate|unable to allocate|ErrorOutOfDeviceMemory|cudaMalloc failed|not enough memory|too large for the available/i;

/** Why a context could not be created, in words: memory, a head plan llama.cpp refused, or what llama.cpp said. */
export function contextFailure(error: unknown, errorLines: readonly string[], contextTokens: number): HeadroomError {
    const said = [...errorLines, errorMessage(error)].map((line) => line.trim()).filter((line) => line.length > 0);
    const tokens = contextTokens.toLocaleString('en-US');
    if (said.some((line) => OUT_OF_MEMORY.test(line))) {
        return new HeadroomError('MODEL_LOAD_FAILED', `The model loaded, but a context of ${tokens} tokens did not fit in memory. Try a smaller context, a smaller budget, a quantized cache, or full heads in CPU RAM.`);
    }
    const headwise = said.find((line) => /headwise KV cache|per-head KV/.test(line));
    if (headwise != null) {
        return new HeadroomError('MODEL_LOAD_FAILED', `llama.cpp refused the head-level KV plan: ${headwise.replace(/^.*?(headwise KV cache|per-head KV)/, '$1')}.`);
    }
    const cause = said.find((line) => /error|fail|cannot|unable|invalid|requires/i.test(line)) ?? said.at(-1) ?? 'no reason given';
    return new HeadroomError('MODEL_LOAD_FAILED', `llama.cpp could not create a context of ${tokens} tokens: ${cause.replace(/^[\w.]+:\s*/, '')}`);
}

function addMeasured(a: MeasuredBuffers, b: MeasuredBuffers): MeasuredBuffers {
    const add = (x: DeviceBytes, y: DeviceBytes) => ({ gpu: x.gpu + y.gpu, cpu: x.cpu + y.cpu });
    return { kv: add(a.kv, b.kv), weights: add(a.weights, b.weights), compute: add(a.compute, b.compute) };
}

/** How long a load waits for llama.cpp's log lines of its own buffers (they come on the event loop, after the call). */
const LOG_LINES_WAIT_MS = 2000;

/** Loads a model's weights on the process's one Llama. */
export async function openModel(options: OpenOptions): Promise<OpenedModel> {
    const { path: modelPath, gpuLayers, onProgress } = options;
    const file = await checkGgufFile(fs, modelPath);
    const { llama } = await runtime.get();
    const buffers = new BufferLog();
    const stopMeasuring = runtime.listen((line) => buffers.observe(line));
    let model: LlamaModel;
    let reported = -1;
    try {
        model = await llama.loadModel({
            modelPath,
            ...(gpuLayers != null ? { gpuLayers } : {}),
            onLoadProgress: (progress) => {
                // llama.cpp reports per tensor; a percent step is plenty for a progress bar.
                if (progress < 1 && progress - reported < 0.01) return;
                reported = progress;
                onProgress?.(progress);
            },
        });
        await buffers.arrived('weights', LOG_LINES_WAIT_MS);
    } catch (error) {
        throw new HeadroomError('MODEL_LOAD_FAILED', `Could not load ${path.basename(modelPath)}: ${errorMessage(error)}. Is it a valid GGUF model file?`);
    } finally {
        stopMeasuring();
    }
    return {
        path: modelPath,
        fileBytes: file.fileBytes,
        architecture: String(model.fileInfo.metadata.general?.architecture ?? 'unknown'),
        model,
        metadata: model.fileInfo.metadata as unknown as Record<string, unknown>,
        measured: buffers.measured,
        dispose: () => model.dispose(),
    };
}

/** Creates a context on an opened model: plans its KV cache from the options and the model's head profile. */
export async function createModelContext(opened: OpenedModel, options: ContextOptions): Promise<ModelContext> {
    const { contextSize, threads, kv, flashAttention, kvCacheType } = options;
    const { model, metadata, architecture } = opened;
    const { llama, build } = await runtime.get();
    const buffers = new BufferLog();
    const errorLines: string[] = [];
    const stopMeasuring = runtime.listen((line, level) => {
        buffers.observe(line);
        if (level === 'error') errorLines.push(line);
    });
    try {
        // what llama.cpp would fail the context for, said first: a quantized cache stores a head's rows in whole
        // blocks, and quantizes V only with flash attention
        const refusal = kvCacheTypeRefusal(attentionFromMetadata(metadata), kvCacheType ?? 'f16', path.basename(opened.path))
            ?? quantizedCacheRefusal(kvCacheType ?? 'f16', flashAttention ?? 'auto');
        if (refusal != null) throw new HeadroomError('BAD_REQUEST', refusal, 'kvCacheType');
        const wantKv = options.plan != null || (kv != null && kv.mode !== 'off');
        // With compression the context size is fixed up front: the plan's budget is a share of it.
        const contextTokens = contextSize ?? automaticContextSize(model.trainContextSize);
        const streamingCellPadding = streamingCellPaddingFor(backendOf(llama), model.gpuLayers);
        const shapeAt = (cells: number, batch: number) => {
            const shape = kvShapeFromMetadata(metadata, cells, batch, kvCacheType);
            return shape == null ? null : { ...shape, streamingCellPadding };
        };
        const planShape = shapeAt(contextCellsFor(contextTokens), COMPRESSED_UBATCH);
        let compression = planShape == null && wantKv ? NO_HEADS : kvAvailability(llama.systemInfo, build, architecture, wantKv);
        let profile: FoundProfile | null = null;
        let resolved: ResolvedKv | null = null;
        if (wantKv && planShape != null) {
            // the given profile, else the explicit profile file, else the one stored for this model file, else one shipped for its kind
            profile = options.profile === undefined
                ? await findProfile(opened.path, { explicit: kv?.profile, shape: planShape, metadata })
                : options.profile && checkProfileShape(options.profile, planShape);
            const compute = computeDevice(llama);
            if (compression.available && options.plan != null) resolved = explicitPlan(options.plan, kv?.mode ?? 'budget', planShape, compute);
            else if (compression.available && kv != null) {
                resolved = planFromProfile(kv, planShape, compute, profile);
                // 'auto' without a profile: the full cache until the model's heads are profiled
                if (resolved == null) compression = { ...compression, reason: NO_PROFILE_YET };
            }
        }
        const contextOptions: LlamaContextOptions = {
            ...(flashAttention != null ? { flashAttention: flashAttentionOption(flashAttention) } : {}),
            ...(kvCacheType != null ? { experimentalKvCacheKeyType: KV_CACHE_TYPES[kvCacheType].ggml, experimentalKvCacheValueType: KV_CACHE_TYPES[kvCacheType].ggml } : {}),
            threads: threads ?? defaultThreads(llama, opened.fileBytes),
            contextSize: resolved != null ? contextTokens : (contextSize ?? { max: contextTokens }),
        };
        let created: Awaited<ReturnType<typeof createKvContext>>;
        try {
            created = await createKvContext(model, resolved?.plan ?? null, contextOptions);
        } catch (error) {
            // llama.cpp's log reaches us through node-llama-cpp's logger a moment after the failed call: give
            // the error lines that say why one turn of the event loop (only on this failure path)
            await new Promise((resolve) => setTimeout(resolve, 50));
            throw contextFailure(error, errorLines, contextTokens);
        }
        const { context, report } = created;
        // without the binary's own report, the buffers are what llama.cpp logged: let those lines arrive
        if (report == null) await buffers.arrived('compute', LOG_LINES_WAIT_MS);
        // llama.cpp allocates whole 256-cell blocks; node-llama-cpp reports the padded size only sometimes
        const cells = contextCellsFor(context.contextSize);
        const shape = shapeAt(cells, context.batchSize)
            ?? { layers: 0, kvHeads: 0, bytesPerHeadToken: 0, contextCells: cells, ubatch: context.batchSize };
        // the context's own account of its KV and compute buffers where the binary gives one, else what it logged
        const measured = report == null ? buffers.measured : { ...buffers.measured, kv: report.kv, compute: report.compute };
        return {
            context, shape,
            kv: kvOutcome(compression, resolved, report, profile, architecture),
            measured,
            dispose: () => context.dispose(),
        };
    } finally {
        stopMeasuring();
    }
}

/** The one way a model is loaded for use: its weights and one context, disposed together. */
export async function loadModel(options: LoadOptions): Promise<LoadedModel> {
    const opened = await openModel(options);
    try {
        const { dispose: disposeContext, measured, ...created } = await createModelContext(opened, options);
        const { dispose: disposeModel, measured: weights, ...model } = opened;
        return {
            ...model, ...created,
            measured: addMeasured(weights, measured),
            async dispose() {
                await disposeContext();
                await disposeModel();
            },
        };
    } catch (error) {
        await opened.dispose();
        throw error;
    }
}

/** An explicit plan as a load runs it: its budget is the share of the stock cache's bytes it spends. */
function explicitPlan(plan: HeadPlan, mode: KvMode, shape: KvShape, compute: Device): ResolvedKv {
    return { mode, plan, budget: planBudget(shape, plan, compute), profile: null, scores: null };
}

/** Refuses a load whose compressed cache did not come about (the stock build, another architecture), saying why. */
export async function requireCompression<T extends { kv: LoadedKv; dispose: () => Promise<void> }>(loaded: T): Promise<T> {
    if (loaded.kv.compression.active) return loaded;
    await loaded.dispose();
    throw new HeadroomError('NOT_AVAILABLE', loaded.kv.compression.reason ?? 'The head-level KV cache is not active.');
}
