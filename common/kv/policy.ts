// Head-level KV-cache policy: which KV heads keep every token, which keep only sinks plus
// a recent window, and where the full heads' KV lives. Pure data and arithmetic, shared
// by the engine host (to configure the native cache), the memory planner and the UI.
import { z } from 'zod';
import { Device } from '../devices.ts';
import { HeadroomError } from '../errors.ts';
import type { KvShape } from '../modelShape.ts';

export const HeadPolicy = z.enum(['full', 'streaming']);
export type HeadPolicy = z.infer<typeof HeadPolicy>;

/** off: the stock full cache; auto: the profile's recommended budget; budget: a given fraction. */
export const KvMode = z.enum(['off', 'auto', 'budget']);
export type KvMode = z.infer<typeof KvMode>;

/** Where the full heads' KV lives; streaming heads are small and stay with the compute. */
export const KvOffload = z.enum(['gpu', 'cpu', 'auto']);
export type KvOffload = z.infer<typeof KvOffload>;

export const DEFAULT_SINKS = 4;
export const DEFAULT_WINDOW = 128;

const BUDGET_NEEDED = 'KV mode "budget" needs a budget between 0 and 1.';

/** What a user asks for when loading a model. */
export const KvOptions = z.object({
    mode: KvMode,
    /** Fraction of the stock full cache's KV bytes to spend, in (0, 1]. */
    budget: z.number().gt(0).max(1).optional(),
    sinks: z.number().int().min(0).max(1024).default(DEFAULT_SINKS),
    window: z.number().int().min(1).max(1 << 20).default(DEFAULT_WINDOW),
    offload: KvOffload.default('auto'),
    /** Path of a HeadProfile JSON for this model; without one, the stored profile or a fallback order. */
    profile: z.string().min(1).max(4096).optional(),
}).strict().refine((kv) => kv.mode !== 'budget' || kv.budget != null, { message: BUDGET_NEEDED, path: ['budget'] });
export type KvOptions = z.infer<typeof KvOptions>;

/** The stock cache, with the default streaming settings should a plan be asked for later. */
export const KV_OFF: KvOptions = KvOptions.parse({ mode: 'off' });

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

/** A profile and the file it came from. */
export interface FoundProfile {
    profile: HeadProfile;
    path: string;
}

/** Whether a profile was measured on a model of this shape (every layer's row holds every KV head). */
export function profileFits(profile: HeadProfile, shape: Pick<KvShape, 'layers' | 'kvHeads'>): boolean {
    return profile.layers === shape.layers && profile.kvHeads === shape.kvHeads
        && profile.scores.length === shape.layers && profile.scores.every((row) => row.length === shape.kvHeads);
}

/** A resolved plan: what the native cache is told. */
export interface HeadPlan {
    /** policy[layer][kvHead]. */
    policy: HeadPolicy[][];
    sinks: number;
    window: number;
    fullPlacement: Device;
}

/** Tokens per ubatch while compression is on: a streaming head holds one ubatch beyond its window. */
export const COMPRESSED_UBATCH = 128;

/** Mode 'auto' without a profile spends this fraction of the stock cache. */
export const AUTO_BUDGET_WITHOUT_PROFILE = 0.5;

/** llama.cpp pads cache sizes so that kernels need no boundary checks. */
export const STREAMING_CELL_PADDING = 32;

export function alignUp(value: number, to: number): number {
    return Math.ceil(value / to) * to;
}

/**
 * Cells a streaming head holds: its sinks, its window, the window before the last prompt's end (so a
 * chat can drop a reply and go on from the prompt without reading the document again) and one batch.
 */
export function streamingCells(shape: KvShape, sinks: number, window: number): number {
    return Math.min(shape.contextCells, alignUp(sinks + 2 * window + shape.ubatch, STREAMING_CELL_PADDING));
}

export function policyAt(plan: HeadPlan | null, layer: number, head: number): HeadPolicy {
    return plan?.policy[layer]?.[head] ?? 'full';
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
export function kvBytes(shape: KvShape, plan: HeadPlan | null, compute: Device): KvBytes {
    const result: KvBytes = { gpu: 0, cpu: 0, full: 0, streaming: 0, perHead: [] };
    const stream = plan == null ? 0 : streamingCells(shape, plan.sinks, plan.window);
    for (let layer = 0; layer < shape.layers; layer++) {
        const row: number[] = [];
        for (let head = 0; head < shape.kvHeads; head++) {
            const policy = policyAt(plan, layer, head);
            const bytes = (policy === 'full' ? shape.contextCells : stream) * shape.bytesPerHeadToken;
            const placement = policy === 'full' && plan != null ? plan.fullPlacement : compute;
            result[policy] += bytes;
            result[placement] += bytes;
            row.push(bytes);
        }
        result.perHead.push(row);
    }
    return result;
}

/** Heads from most to least important (ties: earlier layer, then lower head). */
export function rankHeads(scores: number[][]): { layer: number; head: number; score: number }[] {
    return scores.flatMap((row, layer) => row.map((score, head) => ({ layer, head, score })))
        .sort((a, b) => b.score - a.score || a.layer - b.layer || a.head - b.head);
}

/**
 * Keeps the highest-scoring heads full within a budget (a fraction of the stock cache's
 * bytes); every other head streams.
 */
export function planForBudget(
    shape: KvShape, scores: number[][], budget: number,
    options: { sinks: number; window: number; fullPlacement: Device },
): HeadPlan {
    const heads = shape.layers * shape.kvHeads;
    const stream = streamingCells(shape, options.sinks, options.window);
    const perFull = shape.contextCells - stream;
    const allowed = budget * heads * shape.contextCells - heads * stream;
    const fullCount = perFull <= 0 ? heads : Math.max(0, Math.min(heads, Math.floor(allowed / perFull)));
    const policy: HeadPolicy[][] = Array.from({ length: shape.layers }, () => Array<HeadPolicy>(shape.kvHeads).fill('streaming'));
    for (const { layer, head } of rankHeads(scores).slice(0, fullCount)) {
        const row = policy[layer];
        if (row != null && head < row.length) row[head] = 'full';
    }
    return { policy, sinks: options.sinks, window: options.window, fullPlacement: options.fullPlacement };
}

/** Scores for a model with no profile: later layers first, then lower heads (a guess, reported as profile: null). */
export function fallbackScores(shape: KvShape): number[][] {
    return Array.from({ length: shape.layers }, (_, layer) => Array.from({ length: shape.kvHeads }, () => layer));
}

/** The budget a mode spends: the given fraction, the profile's recommendation, or the fallback for 'auto'. */
export function budgetFor(options: Pick<KvOptions, 'mode' | 'budget'>, profile: HeadProfile | null): number | null {
    if (options.mode === 'off') return null;
    if (options.mode === 'budget') return options.budget ?? null;
    return profile?.recommendedBudget ?? AUTO_BUDGET_WITHOUT_PROFILE;
}

/** The plan a load runs, and what it was made from. */
export interface ResolvedKv {
    mode: KvMode;
    plan: HeadPlan;
    /** Fraction of the stock cache's bytes the plan spends. */
    budget: number;
    profile: { source: string; path: string } | null;
    /** The profile's head scores, or null when the plan used the fallback order. */
    scores: number[][] | null;
}

/** Where full heads live for an offload choice: 'auto' keeps them with the compute. */
export function fullPlacementFor(offload: KvOffload, compute: Device): Device {
    return offload === 'auto' ? compute : offload;
}

/** The plan for a budget or 'auto' from a profile's scores (or the fallback order without one). */
export function planFromProfile(options: KvOptions, shape: KvShape, compute: Device, found: FoundProfile | null): ResolvedKv {
    const profile = found?.profile ?? null;
    const budget = budgetFor(options, profile);
    if (budget == null) throw new HeadroomError('BAD_REQUEST', BUDGET_NEEDED);
    const plan = planForBudget(shape, profile?.scores ?? fallbackScores(shape), budget, {
        sinks: options.sinks, window: options.window, fullPlacement: fullPlacementFor(options.offload, compute),
    });
    return { mode: options.mode, plan, budget, profile: found == null ? null : { source: found.profile.source, path: found.path }, scores: profile?.scores ?? null };
}
