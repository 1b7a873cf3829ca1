// Head-level KV-cache policy: which KV heads keep every token, which keep only sinks plus
// a recent window, and where the full heads' KV lives. Pure data and arithmetic, shared
// by the engine host (to configure the native cache), the memory planner and the UI.
import { z } from 'zod';
import { Device } from '../devices.ts';
import { HeadroomError } from '../errors.ts';
import { isWindowLayer, type KvShape } from '../modelShape.ts';

/** full: every token; streaming: sinks + a recent window; window: a layer the model itself attends through its window cache (Gemma). */
export const HeadPolicy = z.enum(['full', 'streaming', 'window']);
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
 * Cells a streaming head holds: its sinks and its window, plus room for a batch or, while a reply is
 * generated, the window before the prompt's end (so a chat can drop the reply and go on from the
 * prompt without reading the document again) and the new token. native/patches/0001 sizes it so.
 */
export function streamingCells(shape: KvShape, sinks: number, window: number): number {
    const cells = sinks + Math.max(window + shape.ubatch, 2 * window + 1);
    return Math.min(shape.contextCells, alignUp(cells, STREAMING_CELL_PADDING));
}

/** A head's policy: the model's window layers are 'window' whatever the plan; without a plan the rest are full. */
export function policyAt(shape: Pick<KvShape, 'windowLayers'>, plan: HeadPlan | null, layer: number, head: number): HeadPolicy {
    if (isWindowLayer(shape, layer)) return 'window';
    const policy = plan?.policy[layer]?.[head] ?? 'full';
    return policy === 'window' ? 'full' : policy;
}

export interface KvBytes {
    gpu: number;
    cpu: number;
    full: number;
    streaming: number;
    /** The model's own window layers (Gemma): the same with or without a plan. */
    window: number;
    /** perHead[layer][kvHead]. */
    perHead: number[][];
}

/** Cells one head of each policy holds under a plan (no plan: the stock cache). */
function cellsOf(shape: KvShape, plan: HeadPlan | null): Record<HeadPolicy, number> {
    return {
        full: shape.contextCells,
        streaming: plan == null ? 0 : streamingCells(shape, plan.sinks, plan.window),
        window: shape.windowCells ?? shape.contextCells,
    };
}

/** The KV bytes a plan allocates; with no plan, the stock cache (every head full, with the compute). */
export function kvBytes(shape: KvShape, plan: HeadPlan | null, compute: Device): KvBytes {
    const result: KvBytes = { gpu: 0, cpu: 0, full: 0, streaming: 0, window: 0, perHead: [] };
    const cells = cellsOf(shape, plan);
    for (let layer = 0; layer < shape.layers; layer++) {
        const row: number[] = [];
        for (let head = 0; head < shape.kvHeads; head++) {
            const policy = policyAt(shape, plan, layer, head);
            const bytes = cells[policy] * shape.bytesPerHeadToken;
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
 * bytes); every other head streams. The model's window layers keep their window cache and
 * count against the budget as they are.
 */
export function planForBudget(
    shape: KvShape, scores: number[][], budget: number,
    options: { sinks: number; window: number; fullPlacement: Device },
): HeadPlan {
    const windowHeads = Array.from({ length: shape.layers }, (_, layer) => layer).filter((layer) => isWindowLayer(shape, layer)).length * shape.kvHeads;
    const heads = shape.layers * shape.kvHeads - windowHeads;
    const cells = cellsOf(shape, { policy: [], fullPlacement: options.fullPlacement, sinks: options.sinks, window: options.window });
    const stockCells = heads * cells.full + windowHeads * cells.window;
    const perFull = cells.full - cells.streaming;
    const allowed = budget * stockCells - heads * cells.streaming - windowHeads * cells.window;
    const fullCount = perFull <= 0 ? heads : Math.max(0, Math.min(heads, Math.floor(allowed / perFull)));
    const policy: HeadPolicy[][] = Array.from({ length: shape.layers }, (_, layer) =>
        Array<HeadPolicy>(shape.kvHeads).fill(isWindowLayer(shape, layer) ? 'window' : 'streaming'));
    const ranked = rankHeads(scores).filter(({ layer }) => !isWindowLayer(shape, layer));
    for (const { layer, head } of ranked.slice(0, fullCount)) {
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
