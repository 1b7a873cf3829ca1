// Test recall: a short needle-in-a-haystack on the chat's model, run with the full cache and
// with the head plan the chat runs, so a user sees what compression costs them. It runs in an
// engine host of its own (the chat engine keeps its model and memory), on one model load with a
// context for each cache.
import { HeadroomError } from '../common/errors.ts';
import type { Params, RecallResult } from '../common/contract.ts';
import { KV_OFF } from '../common/kv/policy.ts';
import { automaticContextSize } from '../common/loadOptions.ts';
import type { NiahResult, NiahTrial } from '../common/niah.ts';
import { createModelContext, openModel, type ContextOptions, type OpenedModel } from './load.ts';
import { ANSWER_TOKENS, niahResultOf, niahTrials, type NiahGrid } from './niah.ts';

/** Where the needle sits by default: near the start, in the middle, near the end (outside a streaming head's window). */
export const RECALL_DEPTHS = [0.1, 0.5, 0.9];
const RECALL_SEED = 11;
const MIN_LENGTH = 128;

/** A quarter, half and all of the context the chat runs (less the answer's room), in whole 64-token steps. */
export function recallLengths(contextTokens: number): number[] {
    const steps = [contextTokens / 4, contextTokens / 2, contextTokens - ANSWER_TOKENS].map((n) => Math.floor(n / 64) * 64).filter((n) => n >= MIN_LENGTH);
    return [...new Set(steps)];
}

export interface RecallProgress {
    cache: 'full' | 'compressed';
    trial: NiahTrial;
    done: number;
    total: number;
}

/** The grid on a context of its own with these options, as a result. */
async function runOn(
    opened: OpenedModel, options: ContextOptions, grid: NiahGrid, onTrial: (trial: NiahTrial, done: number) => void,
): Promise<{ result: NiahResult; compressed: boolean }> {
    const context = await createModelContext(opened, options);
    try {
        const trials = await niahTrials(opened.model, context.context.getSequence(), grid, (trial, done) => onTrial(trial, done));
        const kv = context.kv.compression.active && options.kv != null ? options.kv : KV_OFF;
        const result = await niahResultOf({ modelPath: opened.path, context, kv, kvCacheType: options.kvCacheType ?? 'f16', grid }, trials);
        return { result, compressed: context.kv.compression.active };
    } finally {
        await context.dispose();
    }
}

/** The chat's model and cache as loaded (`load`), tried with its plan and with the full cache. */
export async function testRecall(params: Params<'recall.run'>, onProgress?: (progress: RecallProgress) => void): Promise<RecallResult> {
    const { load } = params;
    const opened = await openModel({ path: load.path, ...(load.gpuLayers != null ? { gpuLayers: load.gpuLayers } : {}) });
    try {
        const contextSize = load.contextSize ?? automaticContextSize(opened.model.trainContextSize);
        const lengths = params.lengths ?? recallLengths(contextSize);
        const longest = Math.max(...lengths);
        if (longest + ANSWER_TOKENS > contextSize) {
            throw new HeadroomError('BAD_REQUEST', `Test recall's longest haystack (${longest} tokens) and its answer do not fit the ${contextSize}-token context.`, 'lengths');
        }
        const grid: NiahGrid = { lengths, depths: params.depths ?? RECALL_DEPTHS, trials: 1, seed: RECALL_SEED };
        const options: ContextOptions = {
            contextSize,
            ...(load.threads != null ? { threads: load.threads } : {}),
            ...(load.flashAttention != null ? { flashAttention: load.flashAttention } : {}),
            ...(load.kvCacheType != null ? { kvCacheType: load.kvCacheType } : {}),
        };
        const perCache = grid.lengths.length * grid.depths.length * grid.trials;
        const wantsCompression = load.kv != null && load.kv.mode !== 'off';
        let total = wantsCompression ? 2 * perCache : perCache;
        // The chat's cache first; should it run the full cache after all (no profile yet, the stock build), that run is the full one.
        const asLoaded = await runOn(opened, { ...options, ...(load.kv != null ? { kv: load.kv } : {}) }, grid, (trial, done) => {
            onProgress?.({ cache: wantsCompression ? 'compressed' : 'full', trial, done, total });
        });
        if (!asLoaded.compressed) return { full: asLoaded.result, compressed: null };
        total = 2 * perCache;
        const full = await runOn(opened, { ...options, kv: KV_OFF }, grid, (trial, done) => {
            onProgress?.({ cache: 'full', trial, done: perCache + done, total });
        });
        return { full: full.result, compressed: asLoaded.result };
    } finally {
        await opened.dispose();
    }
}
