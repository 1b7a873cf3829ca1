// The one place the measurement CLIs touch the head-level KV engine. Today the stock
// llama.cpp cache ('off') is all there is; every compressed mode throws NOT_AVAILABLE.
// When the native per-head cache lands, `loadModelWithKv` and `kvBytesOf` are what change.
import type { Llama, LlamaContext, LlamaModel } from 'node-llama-cpp';
import { HeadroomError } from '../ipc/rpc.ts';
import { kvBytes, planForBudget, type HeadPlan, type HeadProfile, type KvBytes, type KvOptions, type KvShape } from '../engine/kv/policy.ts';

type NodeLlamaCpp = typeof import('node-llama-cpp');

// Below this size a model's per-token work is smaller than the cost of syncing CPU threads
// (the same rule as the engine's).
const SINGLE_THREAD_MODEL_BYTES = 256 * 1024 * 1024;
// llama.cpp's default KV cache type is F16.
const KV_BYTES_PER_ELEMENT = 2;
/** Tokens per ubatch while compression is on: a streaming head holds one ubatch beyond its window. */
export const COMPRESSED_UBATCH = 128;

let runtime: Promise<{ lib: NodeLlamaCpp; llama: Llama }> | null = null;

/** node-llama-cpp and its native addon, loaded once per process. */
export function getRuntime(): Promise<{ lib: NodeLlamaCpp; llama: Llama }> {
    runtime ??= (async () => {
        const lib = await import('node-llama-cpp');
        const llama = await lib.getLlama({
            gpu: process.env.HEADROOM_GPU === 'false' ? false : 'auto',
            build: 'never',
            logLevel: lib.LlamaLogLevel.error,
        });
        return { lib, llama };
    })();
    return runtime;
}

export interface LoadedWithKv {
    lib: NodeLlamaCpp;
    llama: Llama;
    model: LlamaModel;
    context: LlamaContext;
    kv: KvOptions;
    /** The per-head plan the cache was built with; null for the stock cache. */
    plan: HeadPlan | null;
    shape: KvShape;
    /** 'gpu' when llama.cpp computes on a GPU, else 'cpu'. */
    compute: 'gpu' | 'cpu';
    dispose(): Promise<void>;
}

export interface LoadWithKvOptions {
    contextSize: number;
    kv: KvOptions;
    /** Head scores for 'auto' and 'budget'. */
    profile?: HeadProfile | null;
    /** An explicit per-head plan (the profiler ablating single heads); overrides kv's budget. */
    plan?: HeadPlan | null;
    threads?: number;
}

/** The KV geometry of a model file, read from its GGUF metadata. */
export function kvShapeOf(model: LlamaModel, contextCells: number, ubatch: number): KvShape {
    const metadata = model.fileInfo.metadata as unknown as Record<string, Record<string, unknown>>;
    const architecture = String(metadata.general?.architecture ?? '');
    const arch = (metadata[architecture] ?? {}) as Record<string, unknown>;
    const attention = (arch.attention ?? {}) as Record<string, unknown>;
    const layers = Number(arch.block_count);
    const heads = Number(attention.head_count);
    const kvHeads = Number(attention.head_count_kv ?? heads);
    const headDim = Number(arch.embedding_length) / heads;
    const keyLength = Number(attention.key_length ?? headDim);
    const valueLength = Number(attention.value_length ?? headDim);
    if (![layers, kvHeads, keyLength, valueLength].every((n) => Number.isInteger(n) && n > 0)) {
        throw new HeadroomError('MODEL_LOAD_FAILED', `The model's GGUF metadata does not describe its attention heads (architecture ${architecture || 'unknown'}).`);
    }
    return { layers, kvHeads, bytesPerHeadToken: (keyLength + valueLength) * KV_BYTES_PER_ELEMENT, contextCells, ubatch };
}

function notAvailable(kv: KvOptions): HeadroomError {
    const what = kv.mode === 'budget' ? `budget ${kv.budget ?? '?'}` : kv.mode;
    return new HeadroomError('NOT_AVAILABLE', `The head-level KV cache (kv ${what}) is not in this build yet; only --kv off (the stock cache) can run.`);
}

/** Resolves kv options plus a profile into the plan the native cache would be given. */
export function planFor(shape: KvShape, kv: KvOptions, profile: HeadProfile | null | undefined): HeadPlan | null {
    if (kv.mode === 'off') return null;
    if (profile == null) throw new HeadroomError('NOT_FOUND', `kv ${kv.mode} needs a head profile; run \`npm run profile -- --model <gguf>\` first.`);
    const budget = kv.mode === 'auto' ? profile.recommendedBudget : kv.budget;
    if (budget == null) throw new HeadroomError('BAD_REQUEST', 'kv budget needs a fraction, e.g. budget:0.5.');
    const fullPlacement = kv.offload === 'cpu' ? 'cpu' : 'gpu';
    return planForBudget(shape, profile.scores, budget, { sinks: kv.sinks, window: kv.window, fullPlacement });
}

/** Loads a model with a context whose KV cache follows `kv`. */
export async function loadModelWithKv(modelPath: string, options: LoadWithKvOptions): Promise<LoadedWithKv> {
    const { kv } = options;
    if (options.plan != null) throw new HeadroomError('NOT_AVAILABLE', 'Per-head KV plans (streaming heads) need the head-level KV cache, which is not in this build yet.');
    if (kv.mode !== 'off') throw notAvailable(kv);
    const { lib, llama } = await getRuntime();
    let model: LlamaModel;
    try {
        model = await llama.loadModel({ modelPath });
    } catch (error) {
        throw new HeadroomError('MODEL_LOAD_FAILED', `Could not load ${modelPath}: ${(error as Error).message}`);
    }
    try {
        const context = await model.createContext({
            contextSize: options.contextSize,
            threads: options.threads ?? (model.size < SINGLE_THREAD_MODEL_BYTES ? 1 : llama.cpuMathCores),
        });
        const shape = kvShapeOf(model, context.contextSize, context.batchSize);
        return {
            lib, llama, model, context, kv, plan: null, shape,
            compute: llama.gpu === false ? 'cpu' : 'gpu',
            async dispose() {
                await context.dispose();
                await model.dispose();
            },
        };
    } catch (error) {
        await model.dispose();
        if (error instanceof HeadroomError) throw error;
        throw new HeadroomError('MODEL_LOAD_FAILED', `A context of ${options.contextSize} tokens did not fit: ${(error as Error).message}`);
    }
}

/** KV bytes the loaded cache holds on the GPU and in CPU RAM. */
export function kvBytesOf(loaded: LoadedWithKv): KvBytes {
    return kvBytes(loaded.shape, loaded.plan, loaded.compute);
}
