// Head-level KV-cache policy: which KV heads keep every token, which keep only sinks plus
// a recent window, and where the full heads' KV lives. Pure data and arithmetic, shared
// by the engine host (to configure the native cache), the memory planner and the UI.
import { z } from 'zod';

export const HeadPolicy = z.enum(['full', 'streaming']);
export type HeadPolicy = z.infer<typeof HeadPolicy>;

export const KvPlacement = z.enum(['gpu', 'cpu']);
export type KvPlacement = z.infer<typeof KvPlacement>;

/** What a user asks for when loading a model. */
export const KvOptions = z.object({
    /** off: stock full cache; auto: the profile's recommended budget; budget: the given fraction. */
    mode: z.enum(['off', 'auto', 'budget']),
    /** Fraction of the stock full cache's KV bytes to spend, in (0, 1]. */
    budget: z.number().gt(0).max(1).optional(),
    sinks: z.number().int().min(0).max(1024).default(4),
    window: z.number().int().min(1).max(1 << 20).default(128),
    /** Where the full heads' KV lives; streaming heads are small and stay with the compute. */
    offload: z.enum(['gpu', 'cpu', 'auto']).default('auto'),
    /** Path of a HeadProfile JSON for this model; without one, a fallback order (later layers first). */
    profile: z.string().min(1).max(4096).optional(),
}).strict();
export type KvOptions = z.infer<typeof KvOptions>;

/** A model's head scores: higher means the head retrieves from far back and should stay full. */
export const HeadProfile = z.object({
    /** sha256 of the GGUF file the profile was measured on. */
    modelSha256: z.string().regex(/^[0-9a-f]{64}$/),
    layers: z.number().int().positive(),
    kvHeads: z.number().int().positive(),
    /** scores[layer][kvHead]. */
    scores: z.array(z.array(z.number())),
    source: z.enum(['profiler', 'duo-attention']),
    /** The budget the profiler found to keep quality; what mode 'auto' uses. */
    recommendedBudget: z.number().gt(0).max(1),
    createdAt: z.string(),
});
export type HeadProfile = z.infer<typeof HeadProfile>;

/** The cache's geometry: enough to compute its size for any policy. */
export interface KvShape {
    layers: number;
    kvHeads: number;
    /** Bytes one token takes in one (layer, KV head): K and V together. */
    bytesPerHeadToken: number;
    /** Cells of a full head: the context size as llama.cpp pads it. */
    contextCells: number;
    /** Tokens evaluated at once; a streaming head needs room for one batch beyond its window. */
    ubatch: number;
}

/** A resolved plan: what the native cache is told. */
export interface HeadPlan {
    /** policy[layer][kvHead]. */
    policy: HeadPolicy[][];
    sinks: number;
    window: number;
    fullPlacement: KvPlacement;
}

/** llama.cpp pads cache sizes so that kernels need no boundary checks. */
export const STREAMING_CELL_PADDING = 32;

export function alignUp(value: number, to: number): number {
    return Math.ceil(value / to) * to;
}

/** Cells a streaming head holds: its sinks, its window and one batch being evaluated. */
export function streamingCells(shape: KvShape, sinks: number, window: number): number {
    return Math.min(shape.contextCells, alignUp(sinks + window + shape.ubatch, STREAMING_CELL_PADDING));
}

export interface KvBytes {
    gpu: number;
    cpu: number;
    full: number;
    streaming: number;
    /** perHead[layer][kvHead]. */
    perHead: number[][];
}

/** The KV bytes a plan allocates; with no plan, the stock cache (every head full, with the compute). */
export function kvBytes(shape: KvShape, plan: HeadPlan | null, compute: KvPlacement): KvBytes {
    const result: KvBytes = { gpu: 0, cpu: 0, full: 0, streaming: 0, perHead: [] };
    const stream = plan == null ? 0 : streamingCells(shape, plan.sinks, plan.window);
    for (let layer = 0; layer < shape.layers; layer++) {
        const row: number[] = [];
        for (let head = 0; head < shape.kvHeads; head++) {
            const full = plan == null || plan.policy[layer][head] === 'full';
            const bytes = (full ? shape.contextCells : stream) * shape.bytesPerHeadToken;
            const placement = full && plan != null ? plan.fullPlacement : compute;
            result[full ? 'full' : 'streaming'] += bytes;
            result[placement] += bytes;
            row.push(bytes);
        }
        result.perHead.push(row);
    }
    return result;
}

/**
 * Keeps the highest-scoring heads full within a budget (a fraction of the stock cache's
 * bytes); every other head streams.
 */
export function planForBudget(
    shape: KvShape, scores: number[][], budget: number,
    options: { sinks: number; window: number; fullPlacement: KvPlacement },
): HeadPlan {
    const heads = shape.layers * shape.kvHeads;
    const stream = streamingCells(shape, options.sinks, options.window);
    const perFull = shape.contextCells - stream;
    const allowed = budget * heads * shape.contextCells - heads * stream;
    const fullCount = perFull <= 0 ? heads : Math.max(0, Math.min(heads, Math.floor(allowed / perFull)));
    const ranked = scores.flatMap((row, layer) => row.map((score, head) => ({ layer, head, score })))
        .sort((a, b) => b.score - a.score || a.layer - b.layer || a.head - b.head);
    const policy: HeadPolicy[][] = Array.from({ length: shape.layers }, () => Array<HeadPolicy>(shape.kvHeads).fill('streaming'));
    for (const { layer, head } of ranked.slice(0, fullCount)) policy[layer][head] = 'full';
    return { policy, sinks: options.sinks, window: options.window, fullPlacement: options.fullPlacement };
}
