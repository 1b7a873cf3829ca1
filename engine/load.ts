// The one place the measurement CLIs load a model with a KV cache mode. It goes through the
// engine's own pieces: the patched llama.cpp build (native.ts), the plan from the model's
// shape and head profile (resolve.ts) and context creation with the plan (context.ts), and it
// reports the KV bytes llama.cpp allocated, with policy.ts's formula alongside.
import type { Llama, LlamaContext, LlamaModel } from 'node-llama-cpp';
import { stat } from 'node:fs/promises';
import { HeadroomError } from '../common/rpc.ts';
import { createKvContext, defaultThreads } from './kv/context.ts';
import { buildChoice, buildSupportsHeadwise, cmakeOptionsFor, KvLogCollector, type KvBuffer } from './kv/native.ts';
import { kvBytes, type HeadPlan, type HeadProfile, type KvBytes, type KvOptions, type KvShape } from '../common/kv/policy.ts';
import { contextCellsFor } from '../common/modelShape.ts';
import { COMPRESSED_UBATCH, HEADWISE_ARCHITECTURES, kvShapeFromMetadata, planFromProfile, profileForLoad, type FoundProfile } from './kv/resolve.ts';

type NodeLlamaCpp = typeof import('node-llama-cpp');

/** Every KV buffer llama.cpp logs goes here; each context creation resets it. */
const kvLog = new KvLogCollector();
let runtime: Promise<{ lib: NodeLlamaCpp; llama: Llama }> | null = null;

/** node-llama-cpp with the engine's llama.cpp build (ours unless HEADROOM_LLAMA_BUILD=stock), loaded once per process. */
export function getRuntime(): Promise<{ lib: NodeLlamaCpp; llama: Llama }> {
    runtime ??= (async () => {
        const lib = await import('node-llama-cpp');
        const llama = await lib.getLlama({
            gpu: process.env.HEADROOM_GPU === 'false' ? false : 'auto',
            build: 'never',
            cmakeOptions: cmakeOptionsFor(buildChoice()),
            // Info level: the KV buffer lines are logged there; only errors are printed.
            logLevel: lib.LlamaLogLevel.info,
            logger: (level, message) => {
                for (const line of message.split('\n')) kvLog.take(line);
                if (level === lib.LlamaLogLevel.error || level === lib.LlamaLogLevel.fatal) process.stderr.write(message.endsWith('\n') ? message : `${message}\n`);
            },
        });
        return { lib, llama };
    })();
    return runtime;
}

/** KV bytes per device: what llama.cpp allocated, and what policy.ts's formula says. */
export interface MeasuredKvBytes {
    gpu: number;
    cpu: number;
    /** The buffers as llama.cpp logged them (stock: one per buffer type, to 0.01 MiB). */
    buffers: { kind: 'full' | 'streaming' | 'stock'; bufferType: string; device: 'gpu' | 'cpu'; bytes: number; cells: number | null }[];
    formula: KvBytes;
}

export interface LoadedWithKv {
    lib: NodeLlamaCpp;
    llama: Llama;
    model: LlamaModel;
    context: LlamaContext;
    kv: KvOptions;
    /** The per-head plan the cache was built with; null for the stock cache. */
    plan: HeadPlan | null;
    /** The cache's geometry as llama.cpp sized it (context cells, ubatch). */
    shape: KvShape;
    /** 'gpu' when llama.cpp computes on a GPU, else 'cpu'. */
    compute: 'gpu' | 'cpu';
    /** The KV buffers llama.cpp logged for this context. */
    buffers: KvBuffer[];
    stockBuffers: KvLogCollector['stockBuffers'];
    dispose(): Promise<void>;
}

export interface LoadWithKvOptions {
    contextSize: number;
    kv: KvOptions;
    /** Head scores for 'auto' and 'budget'; without one, the profile stored for the model file (or kv.profile). */
    profile?: HeadProfile | null;
    /** An explicit per-head plan (the profiler's ablations, controls); overrides kv's budget. */
    plan?: HeadPlan | null;
    /** Without any profile, plan with the engine's fallback order instead of refusing (memory and speed only). */
    fallbackOrder?: boolean;
    threads?: number;
}

/** The KV geometry of a loaded model: resolve.ts's reading of its GGUF metadata. */
export function kvShapeOf(model: LlamaModel, contextCells: number, ubatch: number): KvShape {
    const shape = kvShapeFromMetadata(model.fileInfo.metadata as unknown as Record<string, unknown>, contextCells, ubatch);
    if (shape == null) throw new HeadroomError('MODEL_LOAD_FAILED', `The model's GGUF metadata does not describe its attention heads (architecture ${model.fileInfo.metadata.general?.architecture ?? 'unknown'}).`);
    return shape;
}

/** The plan for kv options: explicit, from the given profile, or from the model's stored/explicit profile file. */
async function planFor(modelPath: string, shape: KvShape, options: LoadWithKvOptions, gpu: boolean): Promise<HeadPlan | null> {
    if (options.plan != null) return options.plan;
    if (options.kv.mode === 'off') return null;
    const found: FoundProfile | null = options.profile != null ? { profile: options.profile, path: '(given)' } : await profileForLoad(options.kv, shape, modelPath);
    if (found == null && options.fallbackOrder === true) return planFromProfile(options.kv, shape, gpu, null).plan;
    if (found == null) throw new HeadroomError('NOT_FOUND', `kv ${options.kv.mode} needs a head profile for ${modelPath}; run \`npm run profile -- --model ${modelPath}\` first.`);
    return planFromProfile(options.kv, shape, gpu, found).plan;
}

/** Loads a model with a context whose KV cache follows `kv` (or the explicit `plan`). */
export async function loadModelWithKv(modelPath: string, options: LoadWithKvOptions): Promise<LoadedWithKv> {
    const { kv } = options;
    const file = await stat(modelPath).catch(() => null);
    if (file == null) throw new HeadroomError('NOT_FOUND', `No model file at ${modelPath}.`);
    const { lib, llama } = await getRuntime();
    const compressed = options.plan != null || kv.mode !== 'off';
    if (compressed && !buildSupportsHeadwise(llama.systemInfo)) {
        throw new HeadroomError('NOT_AVAILABLE', 'This llama.cpp build has no head-level KV cache (the stock binary is loaded); run `npm run build:native`.');
    }
    let model: LlamaModel;
    try {
        model = await llama.loadModel({ modelPath });
    } catch (error) {
        throw new HeadroomError('MODEL_LOAD_FAILED', `Could not load ${modelPath}: ${(error as Error).message}`);
    }
    try {
        const architecture = String(model.fileInfo.metadata.general?.architecture ?? 'unknown');
        if (compressed && !HEADWISE_ARCHITECTURES.has(architecture)) throw new HeadroomError('NOT_AVAILABLE', `The head-level KV cache does not support the ${architecture} architecture.`);
        const compute = llama.gpu === false ? 'cpu' : 'gpu';
        // planned on the cells llama.cpp will allocate, as the memory planner plans them
        const planShape = kvShapeOf(model, contextCellsFor(options.contextSize), COMPRESSED_UBATCH);
        const plan = await planFor(modelPath, planShape, options, compute === 'gpu');
        let context: LlamaContext;
        try {
            context = await createKvContext(model, plan, {
                contextSize: options.contextSize,
                threads: options.threads ?? defaultThreads(llama, file.size),
            }, kvLog);
        } catch (error) {
            throw new HeadroomError('MODEL_LOAD_FAILED', `A context of ${options.contextSize} tokens did not fit: ${(error as Error).message}`);
        }
        if (plan != null && (kvLog.unavailableFor != null || kvLog.buffers.length === 0)) {
            await context.dispose();
            throw new HeadroomError('NOT_AVAILABLE', `llama.cpp did not build a head-level cache for this context${kvLog.unavailableFor != null ? ` (architecture ${kvLog.unavailableFor})` : ''}.`);
        }
        const buffers = [...kvLog.buffers];
        const stockBuffers = [...kvLog.stockBuffers];
        const shape = kvShapeOf(model, context.contextSize, context.batchSize);
        return {
            lib, llama, model, context, kv, plan, shape, compute, buffers, stockBuffers,
            async dispose() {
                await context.dispose();
                await model.dispose();
            },
        };
    } catch (error) {
        await model.dispose();
        throw error;
    }
}

/** KV bytes on the GPU and in CPU RAM as llama.cpp allocated them, with the formula's figure. */
export function kvBytesOf(loaded: LoadedWithKv): MeasuredKvBytes {
    const buffers: MeasuredKvBytes['buffers'] = loaded.plan != null
        ? loaded.buffers.map((b) => ({ kind: b.kind, bufferType: b.bufferType, device: b.device, bytes: b.bytes, cells: b.cells }))
        : loaded.stockBuffers.map((b) => ({ kind: 'stock' as const, bufferType: b.bufferType, device: b.device, bytes: b.bytes, cells: null }));
    const sum = (device: 'gpu' | 'cpu') => buffers.filter((b) => b.device === device).reduce((total, b) => total + b.bytes, 0);
    return { gpu: sum('gpu'), cpu: sum('cpu'), buffers, formula: kvBytes(loaded.shape, loaded.plan, loaded.compute) };
}
