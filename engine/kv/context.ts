// The one way a llama.cpp context is created with a head-level KV plan: the plan goes to the
// native cache through a policy file named by POLICY_ENV for the duration of createContext,
// and what llama.cpp allocated (or why it refused the plan) is read back from its log lines.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Llama, LlamaContext, LlamaContextOptions, LlamaModel } from 'node-llama-cpp';
import { COMPRESSED_UBATCH, type HeadPlan } from '../../common/kv/policy.ts';
import { runtime } from '../runtime.ts';
import { KvLogCollector, POLICY_ENV, writePolicyFile, type AttentionProbe } from './native.ts';

// Below this size a model's per-token work is smaller than the cost of syncing CPU
// threads: one thread is measured 60x faster than two on stories260K.
const SINGLE_THREAD_MODEL_BYTES = 256 * 1024 * 1024;
// llama.cpp's log arrives through node-llama-cpp's logger a moment after the context exists
// (seconds later on a busy machine). Its last line about a new context is the compute graph it
// reserved, after every buffer line; waiting ends there, or after this long.
const CONTEXT_LOG_WAIT_MS = 15_000;
const RESERVED_LINE = /^\s*sched_reserve: graph:/;

export function defaultThreads(llama: Llama, modelFileBytes: number): number {
    return modelFileBytes < SINGLE_THREAD_MODEL_BYTES ? 1 : llama.cpuMathCores;
}

/** Resolves once `predicate` holds, or after `timeoutMs` (llama.cpp's log lines arrive a moment after the call that caused them). */
export function waitFor(predicate: () => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
        const started = Date.now();
        const poll = () => (predicate() || Date.now() - started > timeoutMs ? resolve() : setTimeout(poll, 10));
        poll();
    });
}

/**
 * Creates a context whose KV cache follows `plan` (null: the stock cache), and returns it once
 * llama.cpp has logged what it allocated for it, with the KV buffers (or why it refused the plan).
 * `probe` turns the attention probe on (a plan with every head full; see kv/probe.ts).
 */
export async function createKvContext(
    model: LlamaModel, plan: HeadPlan | null, options: LlamaContextOptions, probe?: AttentionProbe,
): Promise<{ context: LlamaContext; kvLog: KvLogCollector }> {
    const kvLog = new KvLogCollector();
    let reserved = false;
    const stopListening = runtime.listen((line) => {
        kvLog.take(line);
        reserved ||= RESERVED_LINE.test(line);
    });
    try {
        const policyFile = plan == null ? null : await writePolicyFile(plan, probe == null ? {} : { probe });
        let context: LlamaContext;
        try {
            if (policyFile != null) process.env[POLICY_ENV] = policyFile;
            // A streaming head holds one ubatch beyond its window, so compressed contexts use small
            // ones; a probed context has every head full and evaluates in llama.cpp's usual batches.
            context = await model.createContext(plan == null || probe != null ? options : { ...options, batchSize: COMPRESSED_UBATCH });
        } finally {
            // read once, at context creation: later contexts must not inherit the plan
            delete process.env[POLICY_ENV];
            if (policyFile != null) await rm(path.dirname(policyFile), { recursive: true, force: true });
        }
        await waitFor(() => reserved, CONTEXT_LOG_WAIT_MS);
        return { context, kvLog };
    } finally {
        stopListening();
    }
}
