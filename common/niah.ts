// Needle-in-a-haystack results, as `npm run niah` writes them and Test recall shows them, and
// their depth × length heatmap (one drawing for both).
import { z } from 'zod';
import { heatmapSvg } from './charts.ts';
import { KvCacheType } from './modelShape.ts';
import { KvOptions } from './kv/policy.ts';

export const NiahTrial = z.object({
    /** The context length this trial belongs to (the prompt is at most this many tokens). */
    contextTokens: z.number().int().positive(),
    depth: z.number().min(0).max(1),
    expected: z.string(),
    answer: z.string(),
    correct: z.boolean(),
    /** Tokens the templated prompt really took. */
    promptTokens: z.number().int().positive(),
    /** Where the fact landed in the document after snapping to a sentence end. */
    actualDepth: z.number().min(0).max(1),
});
export type NiahTrial = z.infer<typeof NiahTrial>;

export const NiahResult = z.object({
    model: z.string(),
    kv: KvOptions,
    /** The K and V cache type (older results: f16). */
    kvType: KvCacheType.default('f16'),
    /** Which heads a compressed plan keeps full: the profile's top heads, or its lowest (a control). */
    heads: z.enum(['top', 'lowest']).default('top'),
    /** Full heads of all KV heads in the plan that ran. */
    fullHeads: z.number().int().nonnegative().optional(),
    totalHeads: z.number().int().positive().optional(),
    accuracy: z.number().min(0).max(1),
    trials: z.array(NiahTrial),
    seed: z.number().int(),
    filler: z.string(),
    device: z.string(),
    createdAt: z.string(),
});
export type NiahResult = z.infer<typeof NiahResult>;

/** How a result names a KV mode: "off", "auto", "budget 0.25". */
export function kvLabel(kv: Pick<KvOptions, 'mode' | 'budget'>): string {
    return kv.mode === 'budget' ? `budget ${kv.budget}` : kv.mode;
}

/** The heatmap's title: the model, the cache and the overall accuracy. */
export function niahTitle(result: NiahResult): string {
    const lowest = result.heads === 'lowest' ? ' on the lowest-scoring heads' : '';
    const heads = result.fullHeads != null ? ` (${result.fullHeads}/${result.totalHeads} heads full)` : '';
    return `Needle in a haystack: ${result.model}, kv ${kvLabel(result.kv)}${lowest}${heads}, ${Math.round(result.accuracy * 100)}% overall`;
}

/** The classic depth × length accuracy grid; `title` replaces the long one (the app's narrow column). */
export function niahHeatmapSvg(result: NiahResult, title = niahTitle(result)): string {
    const lengths = [...new Set(result.trials.map((t) => t.contextTokens))].sort((a, b) => a - b);
    const depths = [...new Set(result.trials.map((t) => t.depth))].sort((a, b) => a - b);
    const cells = depths.map((depth) => lengths.map((length) => {
        const group = result.trials.filter((t) => t.depth === depth && t.contextTokens === length);
        return group.length === 0 ? null : group.filter((t) => t.correct).length / group.length;
    }));
    return heatmapSvg({
        title,
        columns: lengths.map(String),
        rows: depths.map((d) => `${Math.round(d * 100)}%`),
        cells,
        xLabel: 'context length (tokens)',
        yLabel: 'needle depth',
    });
}
