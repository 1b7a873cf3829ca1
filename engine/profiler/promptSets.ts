// The profiler's two sets of needle prompts. Scoring prompts rank the heads; held-out prompts
// (another filler, other seeds, other depths) check whole plans, so a budget is never judged on
// the prompts that chose its heads.
import type { LlamaModel } from 'node-llama-cpp';
import { buildHaystack, fillerName, HELD_OUT_FILLER, loadFiller, makeNeedle, SCORING_FILLER, seededRandom, type Filler } from './haystack.ts';
import { scoredPrompt, type ScoredPrompt } from './prompting.ts';

/** Tokens a prompt leaves free in its context: the question, the template's markers and the answer. */
export const ANSWER_ROOM = 32;
/** Held-out prompts never share a seed with the scoring prompts of the same run. */
const HELD_OUT_SEED_OFFSET = 7919;

export interface PromptSet {
    prompts: ScoredPrompt[];
    /** The context each prompt fits in. */
    contextTokens: number;
    filler: string;
    seed: number;
}

async function promptSet(
    model: LlamaModel, filler: Filler, count: number, contextTokens: number, seed: number, depthAt: (i: number) => number,
): Promise<PromptSet> {
    const random = seededRandom(seed);
    const text = loadFiller(filler);
    const prompts: ScoredPrompt[] = [];
    for (let i = 0; i < count; i++) {
        const needle = makeNeedle(random);
        const haystack = buildHaystack(model, text, needle, contextTokens - 2 * ANSWER_ROOM, depthAt(i), random);
        prompts.push(await scoredPrompt(model, haystack, needle));
    }
    return { prompts, contextTokens, filler: fillerName(filler), seed };
}

/** The prompts heads are scored on: needles between 10 % and 70 % deep, far from the question. */
export function scoringPrompts(model: LlamaModel, count: number, contextTokens: number, seed: number): Promise<PromptSet> {
    return promptSet(model, SCORING_FILLER, count, contextTokens, seed, (i) => 0.1 + (0.6 * (i + 0.5)) / count);
}

/** The prompts plans are checked on: the held-out filler, other seeds, needles from 5 % to 85 % deep. */
export function heldOutPrompts(model: LlamaModel, count: number, contextTokens: number, seed: number): Promise<PromptSet> {
    return promptSet(model, HELD_OUT_FILLER, count, contextTokens, seed + HELD_OUT_SEED_OFFSET, (i) => 0.05 + (0.8 * (i + 0.25)) / count);
}
