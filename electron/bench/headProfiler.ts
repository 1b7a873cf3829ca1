// Scores every KV head of a model without training: passkey prompts with the needle far
// from the question, and for each KV head the drop in the log-probability of the right
// digits when that head alone is ablated. Then the smallest budget that keeps needle accuracy.
import os from 'node:os';
import path from 'node:path';
import type { Token } from 'node-llama-cpp';
import { HeadProfile, planForBudget, type HeadPlan, type HeadPolicy, type KvOptions, type KvShape } from '../engine/kv/policy.ts';
import { loadModelWithKv } from './engineAdapter.ts';
import { buildHaystack, loadFiller, makeNeedle, seededRandom, type Needle } from './haystack.ts';
import { HeadKnockoutFile, type HeadRef } from './headKnockout.ts';
import { chatPromptTokens, scoreAnswer } from './prompting.ts';

/**
 * streaming: the head keeps only sinks + a recent window (what the compressed cache does;
 * needs the head-level KV engine). knockout: the head's values are zeroed in a scratch copy
 * of the model; runs on stock llama.cpp but also flags heads every answer needs, near or far.
 */
export type AblationMethod = 'streaming' | 'knockout';

export interface ProfileOptions {
    modelPath: string;
    sha256: string;
    method: AblationMethod;
    prompts: number;
    promptTokens: number;
    seed: number;
    sinks: number;
    window: number;
    budgets: number[];
    log?(line: string): void;
}

export interface Quality {
    /** Mean over prompts of the summed log-probability of the needle's digits. */
    logProb: number;
    /** Share of prompts whose digits are all the greedy choice. */
    accuracy: number;
}

interface Prompt {
    needle: Needle;
    tokens: Token[];
}

const ANSWER_ROOM = 32;
const KV_OFF: KvOptions = { mode: 'off', sinks: 4, window: 128, offload: 'auto' };

export const DEFAULT_BUDGETS = [0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875];

function streamingPlan(shape: KvShape, streaming: readonly HeadRef[], sinks: number, window: number): HeadPlan {
    const policy: HeadPolicy[][] = Array.from({ length: shape.layers }, () => Array<HeadPolicy>(shape.kvHeads).fill('full'));
    for (const { layer, head } of streaming) policy[layer][head] = 'streaming';
    return { policy, sinks, window, fullPlacement: 'gpu' };
}

export async function profileHeads(options: ProfileOptions): Promise<{ profile: HeadProfile; full: Quality; budgets: { budget: number; quality: Quality }[] }> {
    const log = options.log ?? (() => {});
    const contextSize = options.promptTokens + ANSWER_ROOM;
    // The prompts, built once on the untouched model: needles between 10% and 70% deep, far
    // from the question, so a head that only sees a recent window cannot read them.
    const base = await loadModelWithKv(options.modelPath, { contextSize, kv: KV_OFF });
    const shape = base.shape;
    const random = seededRandom(options.seed);
    const filler = loadFiller();
    const prompts: Prompt[] = [];
    try {
        for (let i = 0; i < options.prompts; i++) {
            const needle = makeNeedle(random);
            const overhead = (await chatPromptTokens(base.model, '', needle.question)).length;
            const depth = 0.1 + (0.6 * (i + 0.5)) / options.prompts;
            const haystack = buildHaystack(base.model, filler, needle, options.promptTokens - overhead - ANSWER_ROOM / 2, depth, random);
            prompts.push({ needle, tokens: await chatPromptTokens(base.model, haystack.document, needle.question) });
        }
    } finally {
        await base.dispose();
    }

    let scratch: HeadKnockoutFile | null = null;
    const measure = async (ablated: readonly HeadRef[]): Promise<Quality> => {
        let loaded;
        if (ablated.length === 0) {
            loaded = await loadModelWithKv(options.modelPath, { contextSize, kv: KV_OFF });
        } else if (options.method === 'streaming') {
            const plan = streamingPlan(shape, ablated, options.sinks, options.window);
            loaded = await loadModelWithKv(options.modelPath, { contextSize, kv: { ...KV_OFF, mode: 'budget', sinks: options.sinks, window: options.window }, plan });
        } else {
            scratch ??= await HeadKnockoutFile.create(options.modelPath, path.join(os.tmpdir(), `headroom-knockout-${process.pid}.gguf`), shape.kvHeads, shape.layers);
            await scratch.knockOut(ablated);
            loaded = await loadModelWithKv(scratch.path, { contextSize, kv: KV_OFF });
        }
        try {
            const sequence = loaded.context.getSequence();
            let logProb = 0;
            let correct = 0;
            for (const prompt of prompts) {
                const score = await scoreAnswer(sequence, prompt.tokens, prompt.needle);
                logProb += score.logProb;
                correct += score.correct ? 1 : 0;
            }
            sequence.dispose();
            return { logProb: logProb / prompts.length, accuracy: correct / prompts.length };
        } finally {
            await loaded.dispose();
        }
    };

    try {
        const full = await measure([]);
        log(`full cache: digit log-prob ${full.logProb.toFixed(3)}, accuracy ${(full.accuracy * 100).toFixed(0)}% over ${prompts.length} prompts of ${options.promptTokens} tokens`);
        const scores: number[][] = [];
        const heads = shape.layers * shape.kvHeads;
        for (let layer = 0; layer < shape.layers; layer++) {
            const row: number[] = [];
            for (let head = 0; head < shape.kvHeads; head++) {
                const quality = await measure([{ layer, head }]);
                const drop = full.logProb - quality.logProb;
                row.push(drop);
                log(`[${layer * shape.kvHeads + head + 1}/${heads}] layer ${layer} KV head ${head} (${options.method}): log-prob drop ${drop.toFixed(3)}, accuracy ${(quality.accuracy * 100).toFixed(0)}%`);
            }
            scores.push(row);
        }
        // The smallest budget whose plan keeps ≥ 95% of the full cache's needle accuracy.
        const budgets: { budget: number; quality: Quality }[] = [];
        let recommendedBudget = 1;
        for (const budget of [...options.budgets].sort((a, b) => a - b)) {
            const plan = planForBudget(shape, scores, budget, { sinks: options.sinks, window: options.window, fullPlacement: 'gpu' });
            const streaming = plan.policy.flatMap((row, layer) => row.flatMap((policy, head) => policy === 'streaming' ? [{ layer, head }] : []));
            const quality = await measure(streaming);
            budgets.push({ budget, quality });
            log(`budget ${budget}: ${heads - streaming.length}/${heads} heads full, accuracy ${(quality.accuracy * 100).toFixed(0)}%`);
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
        await (scratch as HeadKnockoutFile | null)?.dispose();
    }
}

/** Heads from most to least important. */
export function rankHeads(scores: number[][]): (HeadRef & { score: number })[] {
    return scores.flatMap((row, layer) => row.map((score, head) => ({ layer, head, score })))
        .sort((a, b) => b.score - a.score || a.layer - b.layer || a.head - b.head);
}
