// The one way a llama.cpp context is created with a head-level KV plan, shared by the engine
// host and the measurement CLIs: the plan goes to the native cache through a policy file named
// by POLICY_ENV for the duration of createContext, and what llama.cpp allocated is read back
// from its log lines.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Llama, LlamaContext, LlamaContextOptions, LlamaModel } from 'node-llama-cpp';
import { KvLogCollector, POLICY_ENV, writePolicyFile } from './native.ts';
import type { HeadPlan } from '../../common/kv/policy.ts';
import { COMPRESSED_UBATCH } from './resolve.ts';

// Below this size a model's per-token work is smaller than the cost of syncing CPU
// threads: one thread is measured 60x faster than two on stories260K.
const SINGLE_THREAD_MODEL_BYTES = 256 * 1024 * 1024;
// KV buffer log lines arrive through node-llama-cpp's logger, a moment after the context exists
// (seconds later on a busy machine). Waiting ends as soon as they are in; only a build that
// never logs them waits this long, and then compression is reported as not active.
const KV_LOG_WAIT_MS = 15_000;

export function defaultThreads(llama: Llama, modelFileBytes: number): number {
    return modelFileBytes < SINGLE_THREAD_MODEL_BYTES ? 1 : llama.cpuMathCores;
}

function waitFor(predicate: () => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
        const started = Date.now();
        const poll = () => (predicate() || Date.now() - started > timeoutMs ? resolve() : setTimeout(poll, 10));
        poll();
    });
}

/**
 * Creates a context whose KV cache follows `plan` (null: the stock cache). `collector` must be
 * fed llama.cpp's log lines (the getLlama logger) and is reset here; on return it holds the
 * KV buffers llama.cpp allocated for this context (or why it refused the plan).
 */
export async function createKvContext(model: LlamaModel, plan: HeadPlan | null, options: LlamaContextOptions, collector: KvLogCollector): Promise<LlamaContext> {
    collector.reset();
    const policyFile = plan == null ? null : await writePolicyFile(plan);
    let context: LlamaContext;
    try {
        if (policyFile != null) process.env[POLICY_ENV] = policyFile;
        // A streaming head holds one ubatch beyond its window, so compressed contexts use small ones.
        context = await model.createContext(plan == null ? options : { ...options, batchSize: COMPRESSED_UBATCH });
    } finally {
        // read once, at context creation: later contexts must not inherit the plan
        delete process.env[POLICY_ENV];
        if (policyFile != null) await rm(path.dirname(policyFile), { recursive: true, force: true });
    }
    await waitFor(() => collector.unavailableFor != null || (plan == null ? collector.stockBuffers.length > 0 : collector.buffers.length > 0), KV_LOG_WAIT_MS);
    return context;
}
