// Leave-one-out ablation (`npm run profile -- --method ablation`), the slower check: each KV head
// alone made streaming (sinks + a small window) on the head-level cache, and the drop in the
// log-probability of the needle's digits. One context per head on a model loaded once; it costs
// a pass over every prompt for every head, and it misses heads that back each other up.
import type { KvShape } from '../../common/modelShape.ts';
import { planWithFullHeads, type HeadPlan } from '../../common/kv/policy.ts';
import { computeDevice, runtime } from '../runtime.ts';
import type { OpenedModel } from '../load.ts';
import type { PromptSet } from './promptSets.ts';
import { measureQuality, type Quality } from './quality.ts';

export interface HeadRef {
    layer: number;
    head: number;
}

/** Every head full except `streaming`. */
export async function planStreaming(shape: KvShape, streaming: readonly HeadRef[], streamingHead: { sinks: number; window: number }): Promise<HeadPlan> {
    const full = Array.from({ length: shape.layers * shape.kvHeads }, (_, i) => ({ layer: Math.floor(i / shape.kvHeads), head: i % shape.kvHeads }))
        .filter(({ layer, head }) => !streaming.some((h) => h.layer === layer && h.head === head));
    return planWithFullHeads(shape, full, { ...streamingHead, fullPlacement: computeDevice((await runtime.get()).llama) });
}

export interface AblationOptions {
    sinks: number;
    window: number;
    threads?: number;
    /** Only these heads (a benchmark's sample); every head by default. The others score 0. */
    heads?: readonly HeadRef[];
    onPrompt?: (tokens: number) => void;
    log?: (line: string) => void;
}

/** Per KV head: the full cache's digit log-probability minus that with the head alone streaming. */
export async function scoreByAblation(opened: OpenedModel, shape: KvShape, set: PromptSet, options: AblationOptions): Promise<{ scores: number[][]; full: Quality }> {
    const measure = { ...(options.threads != null ? { threads: options.threads } : {}), ...(options.onPrompt != null ? { onPrompt: options.onPrompt } : {}) };
    const full = await measureQuality(opened, set, null, measure);
    options.log?.(`full cache: digit log-prob ${full.logProb.toFixed(3)}, accuracy ${(full.accuracy * 100).toFixed(0)}% over ${set.prompts.length} prompts`);
    const scores = Array.from({ length: shape.layers }, () => Array<number>(shape.kvHeads).fill(0));
    const heads = options.heads ?? scores.flatMap((row, layer) => row.map((_, head) => ({ layer, head })));
    for (const [index, ref] of heads.entries()) {
        const quality = await measureQuality(opened, set, await planStreaming(shape, [ref], options), measure);
        const drop = full.logProb - quality.logProb;
        const row = scores[ref.layer];
        if (row != null) row[ref.head] = drop;
        options.log?.(`[${index + 1}/${heads.length}] layer ${ref.layer} KV head ${ref.head}: log-prob drop ${drop.toFixed(3)}, accuracy ${(quality.accuracy * 100).toFixed(0)}%`);
    }
    return { scores, full };
}
