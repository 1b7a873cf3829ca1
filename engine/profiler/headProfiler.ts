// Scores every KV head of a model without training: passkey prompts with the needle far
// from the question, and for each KV head the drop in the log-probability of the right
// digits when that head alone keeps only sinks + a recent window. Then the smallest budget
// whose plan keeps ≥ 95% of the full cache's needle accuracy.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LlamaModel } from 'node-llama-cpp';
import type { KvShape } from '../../common/modelShape.ts';
import { COMPRESSED_UBATCH, HeadProfile, KV_OFF, KvOptions, planForBudget, type HeadPlan, type HeadPolicy } from '../../common/kv/policy.ts';
import { loadModel, requireCompression, type LoadedModel } from '../load.ts';
import { buildHaystack, loadFiller, makeNeedle, seededRandom } from './haystack.ts';
import { evictHeadsInState, type HeadRef } from './kvStateEviction.ts';
import { scoreAnswer, scoreContinuation, scoredPrompt, type ScoredPrompt } from './prompting.ts';

/**
 * eviction: the document is prefilled with the full cache, then the ablated heads' far cells
 * are overwritten with sink copies before the question (stock llama.cpp, see kvStateEviction.ts).
 * streaming: the head-level KV engine runs the ablated heads as streaming heads throughout.
 */
export type AblationMethod = 'eviction' | 'streaming';

export interface ProfileOptions {
    modelPath: string;
    sha256: string;
    method: AblationMethod;
    prompts: number;
    promptTokens: number;
    seed: number;
    /** The streaming head each ablation makes: sinks plus a small recent window. */
    sinks: number;
    window: number;
    budgets: number[];
    /** The cache the budgets are tried with: what a model load with mode 'auto' gets. */
    planKv?: KvOptions;
    log?: (line: string) => void;
    /** Heads scored so far, of all the model's KV heads. */
    progress?: (done: number, total: number) => void;
}

export interface Quality {
    /** Mean over prompts of the summed log-probability of the needle's digits. */
    logProb: number;
    /** Share of prompts whose digits are all the greedy choice. */
    accuracy: number;
}

export interface ProfileRun {
    profile: HeadProfile;
    full: Quality;
    budgets: { budget: number; fullHeads: number; quality: Quality }[];
}

export const ANSWER_ROOM = 32;
export const DEFAULT_BUDGETS = [0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875];
// Budgets are fractions of a long context's cache: plans are sized for at least this many cells.
const MIN_PLAN_CONTEXT = 8192;

function streamingPlan(shape: KvShape, streaming: readonly HeadRef[], sinks: number, window: number): HeadPlan {
    const policy: HeadPolicy[][] = Array.from({ length: shape.layers }, (_, layer) =>
        Array.from({ length: shape.kvHeads }, (_, head) => (streaming.some((h) => h.layer === layer && h.head === head) ? 'streaming' : 'full')));
    return { policy, sinks, window, fullPlacement: 'gpu' };
}

function mean(scores: { logProb: number; correct: boolean }[]): Quality {
    return {
        logProb: scores.reduce((sum, s) => sum + s.logProb, 0) / scores.length,
        accuracy: scores.filter((s) => s.correct).length / scores.length,
    };
}

/** Measures quality with a set of heads made streaming, one way or the other. */
export interface Ablator {
    measure: (ablated: readonly HeadRef[], streaming: { sinks: number; window: number }) => Promise<Quality>;
    dispose: () => Promise<void>;
}

export async function evictionAblator(loaded: LoadedModel, prompts: ScoredPrompt[]): Promise<Ablator> {
    const sequence = loaded.context.getSequence();
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'headroom-profile-'));
    const statePath = path.join(scratch, 'state.bin');
    // Each prompt's document is prefilled once; every ablation starts from its saved state.
    const prefilled: { prompt: ScoredPrompt; state: Buffer }[] = [];
    for (const prompt of prompts) {
        await sequence.clearHistory();
        await sequence.evaluateWithoutGeneratingNewTokens(prompt.documentTokens);
        await sequence.saveStateToFile(statePath);
        prefilled.push({ prompt, state: await readFile(statePath) });
    }
    return {
        async measure(ablated, { sinks, window }) {
            const scores = [];
            for (const { prompt, state: saved } of prefilled) {
                // The first scored position sees the window before it; everything older goes.
                const firstScored = prompt.documentTokens.length + prompt.tailTokens.length - prompt.answerCount - 1;
                const state = evictHeadsInState(saved, ablated, {
                    layers: loaded.shape.layers, kvHeads: loaded.shape.kvHeads, sinks, keepFrom: firstScored - window + 1,
                });
                await writeFile(statePath, state);
                await sequence.clearHistory();
                await sequence.loadStateFromFile(statePath, { acceptRisk: true });
                scores.push(await scoreContinuation(sequence, prompt.tailTokens, prompt.answerCount));
            }
            return mean(scores);
        },
        async dispose() {
            await sequence.dispose();
            await rm(scratch, { recursive: true, force: true });
        },
    };
}

function streamingAblator(shape: KvShape, contextSize: number, prompts: ScoredPrompt[], modelPath: string): Ablator {
    return {
        async measure(ablated, { sinks, window }) {
            const plan = ablated.length === 0 ? null : streamingPlan(shape, ablated, sinks, window);
            const kv: KvOptions = plan == null ? KV_OFF : { ...KV_OFF, mode: 'budget', budget: 1, sinks, window };
            const load = loadModel({ path: modelPath, contextSize, kv, ...(plan == null ? {} : { plan }) });
            const loaded = plan == null ? await load : await requireCompression(await load);
            try {
                const sequence = loaded.context.getSequence();
                const scores = [];
                for (const prompt of prompts) scores.push(await scoreAnswer(sequence, prompt));
                await sequence.dispose();
                return mean(scores);
            } finally {
                await loaded.dispose();
            }
        },
        async dispose() {},
    };
}

/** The profiler's prompts: needles between 10% and 70% deep, far from the question. */
export async function profilePrompts(model: LlamaModel, count: number, promptTokens: number, seed: number): Promise<ScoredPrompt[]> {
    const random = seededRandom(seed);
    const filler = loadFiller();
    const prompts: ScoredPrompt[] = [];
    for (let i = 0; i < count; i++) {
        const needle = makeNeedle(random);
        const depth = 0.1 + (0.6 * (i + 0.5)) / count;
        const haystack = buildHaystack(model, filler, needle, promptTokens - ANSWER_ROOM, depth, random);
        prompts.push(await scoredPrompt(model, haystack.document, needle));
    }
    return prompts;
}

export async function profileHeads(options: ProfileOptions): Promise<ProfileRun> {
    const log = options.log ?? (() => {});
    const contextSize = options.promptTokens + ANSWER_ROOM;
    const loaded = await loadModel({ path: options.modelPath, contextSize, kv: KV_OFF });
    let ablator: Ablator | null = null;
    try {
        const { model, shape } = loaded;
        const prompts = await profilePrompts(model, options.prompts, options.promptTokens, options.seed);
        ablator = options.method === 'eviction'
            ? await evictionAblator(loaded, prompts)
            : streamingAblator(shape, contextSize, prompts, options.modelPath);
        const scoring = { sinks: options.sinks, window: options.window };

        const full = await ablator.measure([], scoring);
        log(`full cache: digit log-prob ${full.logProb.toFixed(3)}, accuracy ${(full.accuracy * 100).toFixed(0)}% over ${prompts.length} prompts of ~${options.promptTokens} tokens`);
        const heads = shape.layers * shape.kvHeads;
        const scores: number[][] = [];
        for (let layer = 0; layer < shape.layers; layer++) {
            const row: number[] = [];
            for (let head = 0; head < shape.kvHeads; head++) {
                const quality = await ablator.measure([{ layer, head }], scoring);
                row.push(full.logProb - quality.logProb);
                log(`[${layer * shape.kvHeads + head + 1}/${heads}] layer ${layer} KV head ${head}: log-prob drop ${(full.logProb - quality.logProb).toFixed(3)}, accuracy ${(quality.accuracy * 100).toFixed(0)}%`);
                options.progress?.(layer * shape.kvHeads + head + 1, heads);
            }
            scores.push(row);
        }

        // Budgets are tried as a load would plan them: the default sinks and window, the
        // compressed cache's ubatch, and a long context (where budgets are meant to matter).
        const planKv = options.planKv ?? KvOptions.parse({ mode: 'auto' });
        const planShape: KvShape = { ...shape, ubatch: COMPRESSED_UBATCH, contextCells: Math.max(MIN_PLAN_CONTEXT, model.trainContextSize) };
        const planStreaming = { sinks: planKv.sinks, window: planKv.window };
        const budgets: ProfileRun['budgets'] = [];
        let recommendedBudget = 1;
        for (const budget of [...options.budgets].sort((a, b) => a - b)) {
            const plan = planForBudget(planShape, scores, budget, { ...planStreaming, fullPlacement: 'gpu' });
            const streaming = plan.policy.flatMap((row, layer) => row.flatMap((policy, head) => policy === 'streaming' ? [{ layer, head }] : []));
            const quality = await ablator.measure(streaming, planStreaming);
            budgets.push({ budget, fullHeads: heads - streaming.length, quality });
            log(`budget ${budget}: ${heads - streaming.length}/${heads} heads full (window ${planStreaming.window}), accuracy ${(quality.accuracy * 100).toFixed(0)}%`);
            if (quality.accuracy >= 0.95 * full.accuracy) {
                recommendedBudget = budget;
                break;
            }
        }
        const profile = HeadProfile.parse({
            modelSha256: options.sha256,
            layers: shape.layers,
            kvHeads: shape.kvHeads,
            scores,
            source: 'profiler',
            recommendedBudget,
            createdAt: new Date().toISOString(),
        });
        return { profile, full, budgets };
    } finally {
        await ablator?.dispose();
        await loaded.dispose();
    }
}
