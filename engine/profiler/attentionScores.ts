// Scoring heads by where their attention goes, in one forward pass per prompt (the retrieval
// score of RazorAttention and HeadKV): with the attention probe on, the prompt and its answer
// are evaluated teacher-forced, and each query head's attention from the answer onto the
// needle's tokens is summed. A KV head scores its query group's mean share (GQA: query heads
// h·g … h·g + g − 1 read KV head h).
import type { KvShape } from '../../common/modelShape.ts';
import { defaultThreads } from '../kv/context.ts';
import { probeAttention, type ProbeLayer } from '../kv/probe.ts';
import { runtime } from '../runtime.ts';
import type { OpenedModel } from '../load.ts';
import type { PromptSet } from './promptSets.ts';
import { firstScoredPosition, promptTokensOf, type ScoredPrompt } from './prompting.ts';

/** Per KV head, its query group's attention share on the needle, averaged over the counted queries. */
export function kvHeadShares(layers: readonly ProbeLayer[], shape: Pick<KvShape, 'layers' | 'kvHeads'>): number[][] {
    const scores = Array.from({ length: shape.layers }, () => Array<number>(shape.kvHeads).fill(0));
    for (const { layer, queries, mass } of layers) {
        const row = scores[layer];
        if (row == null || queries === 0 || mass.length % shape.kvHeads !== 0) continue;
        const group = mass.length / shape.kvHeads;
        for (let head = 0; head < shape.kvHeads; head++) {
            const groupMass = mass.slice(head * group, (head + 1) * group).reduce((sum, m) => sum + (Number.isFinite(m) ? m : 0), 0);
            row[head] = groupMass / group / queries;
        }
    }
    return scores;
}

/** One prompt's attention shares: the answer's queries (those that predict its digits) on the needle's keys. */
export async function promptShares(opened: OpenedModel, shape: KvShape, prompt: ScoredPrompt, contextTokens: number, threads?: number): Promise<number[][]> {
    const tokens = promptTokensOf(prompt);
    const probe = { p0: prompt.needle.start, p1: prompt.needle.end, q0: firstScoredPosition(prompt) };
    const { llama } = await runtime.get();
    const options = { contextSize: contextTokens, threads: threads ?? defaultThreads(llama, opened.fileBytes) };
    const layers = await probeAttention(opened.model, shape, probe, options, async (sequence) => {
        // The last digit's query predicts nothing that is scored: it is left out.
        await sequence.evaluateWithoutGeneratingNewTokens(tokens.slice(0, -1));
    });
    return kvHeadShares(layers, shape);
}

/** Every KV head's retrieval score: its attention share on the needle, averaged over the prompts. */
export async function scoreByAttention(
    opened: OpenedModel, shape: KvShape, set: PromptSet, options: { threads?: number; onPrompt?: (tokens: number) => void } = {},
): Promise<number[][]> {
    const total = Array.from({ length: shape.layers }, () => Array<number>(shape.kvHeads).fill(0));
    for (const prompt of set.prompts) {
        const shares = await promptShares(opened, shape, prompt, set.contextTokens, options.threads);
        shares.forEach((row, layer) => row.forEach((share, head) => {
            const totals = total[layer];
            if (totals != null) totals[head] = (totals[head] ?? 0) + share / set.prompts.length;
        }));
        options.onPrompt?.(promptTokensOf(prompt).length);
    }
    return total;
}
