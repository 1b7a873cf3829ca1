// The one way a llama.cpp context is created with a head-level KV plan: the plan goes to the
// native cache as node-llama-cpp's experimentalKvHeadPolicy option, and what llama.cpp made of it
// (the per-head cache or why not, its buffers) comes back from the context as data.
import type { Llama, LlamaContext, LlamaContextOptions, LlamaModel } from 'node-llama-cpp';
import { COMPRESSED_UBATCH, type HeadPlan } from '../../common/kv/policy.ts';
import { contextKvReport, contextPolicyOf, type AttentionProbe, type ContextKvReport } from './native.ts';

// Below this size a model's per-token work is smaller than the cost of syncing CPU
// threads: one thread is measured 60x faster than two on stories260K.
const SINGLE_THREAD_MODEL_BYTES = 256 * 1024 * 1024;

export function defaultThreads(llama: Llama, modelFileBytes: number): number {
    return modelFileBytes < SINGLE_THREAD_MODEL_BYTES ? 1 : llama.cpuMathCores;
}

/**
 * Creates a context whose KV cache follows `plan` (null: the stock cache), with llama.cpp's report
 * of the cache it made (null on a binary without the head-level cache). `probe` turns the attention
 * probe on (a plan with every head full; see kv/probe.ts).
 */
export async function createKvContext(
    model: LlamaModel, plan: HeadPlan | null, options: LlamaContextOptions, probe?: AttentionProbe,
): Promise<{ context: LlamaContext; report: ContextKvReport | null }> {
    const context = await model.createContext(plan == null ? options : {
        ...options,
        // A streaming head holds one ubatch beyond its window, so compressed contexts use small
        // ones; a probed context has every head full and evaluates in llama.cpp's usual batches.
        ...(probe == null ? { batchSize: COMPRESSED_UBATCH } : {}),
        experimentalKvHeadPolicy: contextPolicyOf(plan, probe),
    });
    return { context, report: contextKvReport(context) };
}
