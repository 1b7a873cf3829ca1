// Test recall: a short needle-in-a-haystack on the chat's model, and follow-up questions (the
// eval's multi-query task: several questions about one document, asked in turn in one chat with
// the engine's own chat path), run with the full cache and with the head plan the chat runs, so a
// user sees what compression costs them. It runs in an engine host of its own (the chat engine
// keeps its model and memory), on one model load with a context for each cache.
import { HeadroomError } from '../common/errors.ts';
import type { Params, RecallResult } from '../common/contract.ts';
import { scoreOf, type EvalAnswer, type EvalRun } from '../common/eval.ts';
import { KV_OFF } from '../common/kv/policy.ts';
import { automaticContextSize } from '../common/loadOptions.ts';
import type { NiahResult } from '../common/niah.ts';
import { buildEvalChats, chatAsker, evalFillerName, runEvalChats, type EvalChat, type EvalGrid } from './eval.ts';
import { createModelContext, openModel, type ContextOptions, type OpenedModel } from './load.ts';
import { ANSWER_TOKENS, niahResultOf, niahTrials, type NiahGrid } from './niah.ts';

/** Where the needle sits by default: near the start, in the middle, near the end (outside a streaming head's window). */
export const RECALL_DEPTHS = [0.1, 0.5, 0.9];
const RECALL_SEED = 11;
const MIN_LENGTH = 128;
/** Follow-up chats per length by default; lengths shorter than this leave no room for their document. */
export const RECALL_FOLLOW_UP_CHATS = 1;
export const FOLLOW_UP_MIN_LENGTH = 512;

/** A quarter, half and all of the context the chat runs (less the answer's room), in whole 64-token steps. */
export function recallLengths(contextTokens: number): number[] {
    const steps = [contextTokens / 4, contextTokens / 2, contextTokens - ANSWER_TOKENS].map((n) => Math.floor(n / 64) * 64).filter((n) => n >= MIN_LENGTH);
    return [...new Set(steps)];
}

export interface RecallProgress {
    cache: 'full' | 'compressed';
    /** A needle of the haystack grid, or a follow-up question. */
    task: 'niah' | 'multiquery';
    contextTokens: number;
    depth: number;
    correct: boolean;
    done: number;
    total: number;
}

type Outcome = Pick<RecallProgress, 'task' | 'contextTokens' | 'depth' | 'correct'>;

/** The grid and the follow-up chats on a context of its own with these options, as results. */
async function runOn(
    opened: OpenedModel, options: ContextOptions, grid: NiahGrid, chats: readonly EvalChat[], onOutcome: (outcome: Outcome, done: number) => void,
): Promise<{ result: NiahResult; followUps: EvalRun | null; compressed: boolean }> {
    const context = await createModelContext(opened, options);
    try {
        const sequence = context.context.getSequence();
        const trials = await niahTrials(opened.model, sequence, grid, (trial, done) => onOutcome({ task: 'niah', contextTokens: trial.contextTokens, depth: trial.depth, correct: trial.correct }, done));
        const compressed = context.kv.compression.active;
        const kv = compressed && options.kv != null ? options.kv : KV_OFF;
        const result = await niahResultOf({ modelPath: opened.path, context, kv, kvCacheType: options.kvCacheType ?? 'f16', grid }, trials);
        let answers: EvalAnswer[] = [];
        if (chats.length > 0) {
            const asker = await chatAsker(sequence, compressed);
            try {
                answers = await runEvalChats(chats, asker.ask, (answer, done) => onOutcome({ task: 'multiquery', contextTokens: answer.contextTokens, depth: answer.depth, correct: answer.correct }, trials.length + done));
            } finally {
                asker.dispose();
            }
        }
        const followUps: EvalRun | null = chats.length === 0 ? null : {
            kv, ...(result.fullHeads != null ? { fullHeads: result.fullHeads, totalHeads: result.totalHeads } : {}),
            accuracy: scoreOf(answers).accuracy, answers, seed: grid.seed, filler: evalFillerName({}),
        };
        return { result, followUps, compressed };
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
        const followUpGrid: EvalGrid = { tasks: ['multiquery'], chats: params.followUps ?? RECALL_FOLLOW_UP_CHATS, seed: RECALL_SEED };
        const chats: EvalChat[] = [];
        if (followUpGrid.chats > 0) {
            for (const length of lengths.filter((n) => n >= FOLLOW_UP_MIN_LENGTH)) chats.push(...await buildEvalChats(opened.model, followUpGrid, length));
        }
        const options: ContextOptions = {
            contextSize,
            ...(load.threads != null ? { threads: load.threads } : {}),
            ...(load.flashAttention != null ? { flashAttention: load.flashAttention } : {}),
            ...(load.kvCacheType != null ? { kvCacheType: load.kvCacheType } : {}),
        };
        const perCache = grid.lengths.length * grid.depths.length * grid.trials + chats.reduce((sum, chat) => sum + chat.questions.length, 0);
        const wantsCompression = load.kv != null && load.kv.mode !== 'off';
        let total = wantsCompression ? 2 * perCache : perCache;
        // The chat's cache first; should it run the full cache after all (no profile yet, the stock build), that run is the full one.
        const asLoaded = await runOn(opened, { ...options, ...(load.kv != null ? { kv: load.kv } : {}) }, grid, chats, (outcome, done) => {
            onProgress?.({ cache: wantsCompression ? 'compressed' : 'full', ...outcome, done, total });
        });
        const followUpsOf = (full: EvalRun | null, compressed: EvalRun | null) => (full == null ? null : { full, compressed });
        if (!asLoaded.compressed) return { full: asLoaded.result, compressed: null, followUps: followUpsOf(asLoaded.followUps, null) };
        total = 2 * perCache;
        const full = await runOn(opened, { ...options, kv: KV_OFF }, grid, chats, (outcome, done) => {
            onProgress?.({ cache: 'full', ...outcome, done: perCache + done, total });
        });
        return { full: full.result, compressed: asLoaded.result, followUps: followUpsOf(full.followUps, asLoaded.followUps) };
    } finally {
        await opened.dispose();
    }
}
