// Head-level KV-cache policy: which KV heads keep every token, which keep only sinks plus
// a recent window, and where the full heads' KV lives. Pure data and arithmetic, shared
// by the engine host (to configure the native cache), the memory planner and the UI.
import { z } from 'zod';
import { Device } from '../devices.ts';
import { HeadroomError } from '../errors.ts';
import { MAX_CONTEXT_TOKENS } from '../loadOptions.ts';
import { isWindowLayer, type KvShape } from '../modelShape.ts';

/** full: every token; streaming: sinks + a recent window; window: a layer the model itself attends through its window cache (Gemma). */
export const HeadPolicy = z.enum(['full', 'streaming', 'window']);
export type HeadPolicy = z.infer<typeof HeadPolicy>;

/** off: the stock full cache; auto: the head profile's recommended budget (the full cache while the model has none); budget: a given fraction. */
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
    window: z.number().int().min(1).max(MAX_CONTEXT_TOKENS).default(DEFAULT_WINDOW),
    offload: KvOffload.default('auto'),
    /** Path of a HeadProfile JSON for this model; without one, the stored profile or a fallback order. */
    profile: z.string().min(1).max(4096).optional(),
}).strict().refine((kv) => kv.mode !== 'budget' || kv.budget != null, { message: BUDGET_NEEDED, path: ['budget'] });
export type KvOptions = z.infer<typeof KvOptions>;

/** The stock cache, with the default streaming settings should a plan be asked for later. */
export const KV_OFF: KvOptions = KvOptions.parse({ mode: 'off' });

/** How the profiler scored the heads: the attention the answer puts on the needle (one pass a prompt), or leave-one-out ablation. */
export const ProfileMethod = z.enum(['attention', 'ablation']);
export type ProfileMethod = z.infer<typeof ProfileMethod>;

/** One plan checked as a whole: its heads kept full together, every other head streaming. */
export const PlanCheck = z.object({
    fullHeads: z.number().int().nonnegative(),
    /** The budget that keeps these heads full at the validation length. */
    budget: z.number().gt(0).max(1),
    accuracy: z.number().min(0).max(1),
    passed: z.boolean(),
});
export type PlanCheck = z.infer<typeof PlanCheck>;

/**
 * How the recommended budget was chosen: whole plans on held-out prompts (other seeds, depths
 * and filler than the scoring prompts) at the context length the user runs.
 */
export const ProfileValidation = z.object({
    /** validated: a checked plan keeps >= 95 % of the full cache's accuracy; inconclusive: the full cache itself found no needle. */
    verdict: z.enum(['validated', 'inconclusive']),
    contextTokens: z.number().int().positive(),
    prompts: z.number().int().positive(),
    filler: z.string(),
    fullAccuracy: z.number().min(0).max(1),
    checks: z.array(PlanCheck),
    /** Why the validation ran shorter than asked (memory, or the full cache missing needles there). */
    note: z.string().nullable(),
});
export type ProfileValidation = z.infer<typeof ProfileValidation>;

/** A model's head scores: higher means the head retrieves from far back and should stay full. */
export const HeadProfile = z.object({
    /** sha256 of the GGUF file the profile was measured on. */
    modelSha256: z.string().regex(/^[0-9a-f]{64}$/),
    layers: z.number().int().positive(),
    kvHeads: z.number().int().positive(),
    /** scores[layer][kvHead]. */
    scores: z.array(z.array(z.number())),
    source: z.enum(['profiler', 'duo-attention']),
    /** The profiler's scoring method (absent for DuoAttention's gates). */
    method: ProfileMethod.optional(),
    /** DuoAttention: the model the gates were learned on. */
    pattern: z.string().optional(),
    /**
     * How many of the best-scored heads stay full, at every context length: what mode 'auto' keeps. The profiler's
     * validated count, or DuoAttention's gated share of the heads. (Profiles stored before it have only the budget.)
     */
    fullHeads: z.number().int().nonnegative().optional(),
    /** The share of the stock cache's bytes those heads take at the length the profile was measured at (for people; 'auto' keeps the heads, not the share). */
    recommendedBudget: z.number().gt(0).max(1),
    validation: ProfileValidation.optional(),
    createdAt: z.string(),
});
export type HeadProfile = z.infer<typeof HeadProfile>;

/** Where a profile was found: a file named by the user, the profile stored for this model file, or one shipped with Headroom. */
export const ProfileOrigin = z.enum(['file', 'stored', 'shipped']);
export type ProfileOrigin = z.infer<typeof ProfileOrigin>;

/** A profile and the file it came from. */
export interface FoundProfile {
    profile: HeadProfile;
    path: string;
    origin: ProfileOrigin;
}

/** Where a plan's head scores came from, as the engine reports it and the UI shows it. */
export const ProfileSummary = z.object({
    source: z.string(),
    path: z.string(),
    origin: ProfileOrigin,
    /** One line for people: "measured on this machine …", "DuoAttention's pattern for …, shipped with Headroom". */
    description: z.string(),
});
export type ProfileSummary = z.infer<typeof ProfileSummary>;

/** The line the UI shows for a profile. */
export function describeProfile(found: FoundProfile): string {
    const { profile } = found;
    if (profile.source === 'duo-attention') {
        const pattern = profile.pattern != null ? ` for ${profile.pattern}` : '';
        return found.origin === 'shipped' ? `DuoAttention's pattern${pattern}, shipped with Headroom` : `DuoAttention's pattern${pattern}, imported`;
    }
    const how = profile.method === 'ablation' ? 'leave-one-out ablation' : 'attention scores';
    const checked = profile.validation?.verdict === 'validated' ? `, validated at ${profile.validation.contextTokens.toLocaleString('en-US')} tokens` : '';
    return `${found.origin === 'file' ? 'Measured' : 'Measured on this machine'} (${how}${checked})`;
}

export function summarizeProfile(found: FoundProfile): ProfileSummary {
    return { source: found.profile.source, path: found.path, origin: found.origin, description: describeProfile(found) };
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

/**
 * Tokens per ubatch while compression is on: a streaming head holds one ubatch beyond its window.
 * Measured on the CPU (bench/results/cpu-llama3-8b-full-width-8L-q4_0-ubatch: Llama-3-8B width,
 * 2,048 tokens, DuoAttention at 0.25): prefill 48.4 tok/s at 128 against 41.8 at 256, 44.1 at 512
 * and 44.8 for stock at 512, while 512 costs 66 % more KV (no head full at 0.25). Not yet measured on
 * a GPU, where larger batches usually pay: every backend uses 128 until the GPU check says otherwise.
 */
export const COMPRESSED_UBATCH = 128;

/**
 * llama.cpp pads a streaming head's cells to the KV length the attention kernels of its device need: CUDA's vector
 * and grouped-query flash-attention kernels run only on multiples of 256, other backends take 32
 * (native/patches/0001, llama_kv_cache_headwise::n_stream_pad).
 */
export const STREAMING_CELL_PADDING = 32;
export const CUDA_STREAMING_CELL_PADDING = 256;

/** The streaming cells' padding where the KV lives on this backend (with layers on the GPU; none: the CPU's). */
export function streamingCellPaddingFor(backend: 'cuda' | 'vulkan' | 'metal' | 'cpu', gpuLayers = 1): number {
    return backend === 'cuda' && gpuLayers > 0 ? CUDA_STREAMING_CELL_PADDING : STREAMING_CELL_PADDING;
}

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
    return Math.min(shape.contextCells, alignUp(cells, shape.streamingCellPadding ?? STREAMING_CELL_PADDING));
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
    /** The model's own window layers (Gemma); with a plan they also keep the window before the prompt's end. */
    window: number;
    /** perHead[layer][kvHead]. */
    perHead: number[][];
}

/** Cells one head of each policy holds under a plan (no plan: the stock cache). */
function cellsOf(shape: KvShape, plan: HeadPlan | null): Record<HeadPolicy, number> {
    return {
        full: shape.contextCells,
        streaming: plan == null ? 0 : streamingCells(shape, plan.sinks, plan.window),
        window: (plan == null ? shape.windowCells : shape.headwiseWindowCells ?? shape.windowCells) ?? shape.contextCells,
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

/** The stock cache's cells, what a streaming head saves, and how many heads can stream (window layers excluded). */
function budgetArithmetic(shape: KvShape, options: { sinks: number; window: number; fullPlacement: Device }) {
    const windowHeads = Array.from({ length: shape.layers }, (_, layer) => layer).filter((layer) => isWindowLayer(shape, layer)).length * shape.kvHeads;
    const heads = shape.layers * shape.kvHeads - windowHeads;
    const cells = cellsOf(shape, { policy: [], fullPlacement: options.fullPlacement, sinks: options.sinks, window: options.window });
    const stockCells = heads * cells.full + windowHeads * cellsOf(shape, null).window;
    return { heads, windowHeads, cells, stockCells, perFull: cells.full - cells.streaming };
}

/** How many heads a budget keeps full (every head when streaming saves nothing). */
export function fullHeadsForBudget(shape: KvShape, budget: number, options: { sinks: number; window: number; fullPlacement: Device }): number {
    const { heads, windowHeads, cells, stockCells, perFull } = budgetArithmetic(shape, options);
    const allowed = budget * stockCells - heads * cells.streaming - windowHeads * cells.window;
    return perFull <= 0 ? heads : Math.max(0, Math.min(heads, Math.floor(allowed / perFull + 1e-9)));
}

/** The smallest budget, in thousandths, that keeps `fullHeads` heads full: the inverse of fullHeadsForBudget. */
export function budgetForFullHeads(shape: KvShape, fullHeads: number, options: { sinks: number; window: number; fullPlacement: Device }): number {
    const { heads, windowHeads, cells, stockCells, perFull } = budgetArithmetic(shape, options);
    const bytes = Math.min(fullHeads, heads) * perFull + heads * cells.streaming + windowHeads * cells.window;
    return Math.min(1, Math.max(0.001, Math.ceil((1000 * bytes) / stockCells - 1e-9) / 1000));
}

/** Every head streaming except `full` (the model's window layers keep their window cache). */
export function planWithFullHeads(shape: Pick<KvShape, 'layers' | 'kvHeads' | 'windowLayers'>, full: readonly { layer: number; head: number }[], options: { sinks: number; window: number; fullPlacement: Device }): HeadPlan {
    const policy: HeadPolicy[][] = Array.from({ length: shape.layers }, (_, layer) =>
        Array<HeadPolicy>(shape.kvHeads).fill(isWindowLayer(shape, layer) ? 'window' : 'streaming'));
    for (const { layer, head } of full) {
        const row = policy[layer];
        if (row != null && head < row.length && row[head] !== 'window') row[head] = 'full';
    }
    return { policy, sinks: options.sinks, window: options.window, fullPlacement: options.fullPlacement };
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
    const ranked = rankHeads(scores).filter(({ layer, head }) => !isWindowLayer(shape, layer) && layer < shape.layers && head < shape.kvHeads);
    return planWithFullHeads(shape, ranked.slice(0, fullHeadsForBudget(shape, budget, options)), options);
}

/** Scores for a model with no profile: later layers first, then lower heads (a guess, reported as profile: null). */
export function fallbackScores(shape: KvShape): number[][] {
    return Array.from({ length: shape.layers }, (_, layer) => Array.from({ length: shape.kvHeads }, () => layer));
}

/**
 * How many heads a profile keeps full in mode 'auto', whatever the context length: its own count; for profiles
 * stored before it, the smallest validated plan's count, or DuoAttention's share of the heads; null when the profile
 * says only a byte share (an unvalidated profile of an older Headroom).
 */
export function profileFullHeads(profile: HeadProfile): number | null {
    if (profile.fullHeads != null) return profile.fullHeads;
    if (profile.source === 'duo-attention') return Math.round(profile.recommendedBudget * profile.layers * profile.kvHeads);
    const passed = (profile.validation?.checks ?? []).filter((check) => check.passed).map((check) => check.fullHeads);
    return profile.validation?.verdict === 'validated' && passed.length > 0 ? Math.min(...passed) : null;
}

/** The plan a load runs, and what it was made from. */
export interface ResolvedKv {
    mode: KvMode;
    plan: HeadPlan;
    /** Fraction of the stock cache's bytes the plan spends. */
    budget: number;
    profile: ProfileSummary | null;
    /** The profile's head scores, or null when the plan used the fallback order. */
    scores: number[][] | null;
}

/** Where full heads live for an offload choice: 'auto' keeps them with the compute. */
export function fullPlacementFor(offload: KvOffload, compute: Device): Device {
    return offload === 'auto' ? compute : offload;
}

/** Mode 'auto' for a model with no head profile: the full cache, said so (and the offer to profile it follows). */
export const NO_PROFILE_YET = 'No head profile for this model yet, so it runs on the full cache. Profile its heads to compress it.';

/** The share of the stock cache's bytes a plan spends. */
export function planBudget(shape: KvShape, plan: HeadPlan, compute: Device): number {
    const total = (bytes: KvBytes) => bytes.gpu + bytes.cpu;
    return total(kvBytes(shape, plan, compute)) / total(kvBytes(shape, null, compute));
}

/** Why a budget keeps no head full at this context, with the smallest one that keeps one; null when it keeps some. */
export function budgetRefusal(shape: KvShape, budget: number, options: { sinks: number; window: number; fullPlacement: Device }): string | null {
    if (fullHeadsForBudget(shape, budget, options) > 0) return null;
    const streaming = budgetForFullHeads(shape, 0, options);
    const smallest = budgetForFullHeads(shape, 1, options);
    return `A budget of ${budget} keeps no head full at ${shape.contextCells.toLocaleString('en-US')} tokens: there, the streaming heads' sinks, window and batch alone take ${Math.round(streaming * 100)} % of the full cache, `
        + `so every head would stream and nothing far back could be found. The smallest budget that keeps one head full is ${smallest}; or use 'auto', or a longer context.`;
}

/**
 * The heads a mode keeps full: null where it runs the full cache (off, or 'auto' without a profile). 'auto' keeps the
 * profile's full heads at every context length and the bytes follow; a budget is a share of the bytes, spent on the
 * best heads (the fallback order without a profile). A budget that keeps no head full plans every head streaming:
 * budgetRefusal() says so, and loads refuse it (planFromProfile).
 */
export function planHeads(options: KvOptions, shape: KvShape, compute: Device, profile: HeadProfile | null): HeadPlan | null {
    if (options.mode === 'off') return null;
    const settings = { sinks: options.sinks, window: options.window, fullPlacement: fullPlacementFor(options.offload, compute) };
    if (options.mode === 'budget') {
        if (options.budget == null) throw new HeadroomError('BAD_REQUEST', BUDGET_NEEDED, 'kv');
        return planForBudget(shape, profile?.scores ?? fallbackScores(shape), options.budget, settings);
    }
    if (profile == null) return null;
    const kept = profileFullHeads(profile);
    if (kept == null) return planForBudget(shape, profile.scores, profile.recommendedBudget, settings);
    const ranked = rankHeads(profile.scores).filter(({ layer, head }) => !isWindowLayer(shape, layer) && layer < shape.layers && head < shape.kvHeads);
    return planWithFullHeads(shape, ranked.slice(0, kept), settings);
}

/** The plan a load runs, refusing a budget that keeps no head full; null where the mode runs the full cache. */
export function planFromProfile(options: KvOptions, shape: KvShape, compute: Device, found: FoundProfile | null): ResolvedKv | null {
    if (options.mode === 'budget' && options.budget != null) {
        const refusal = budgetRefusal(shape, options.budget, { sinks: options.sinks, window: options.window, fullPlacement: fullPlacementFor(options.offload, compute) });
        if (refusal != null) throw new HeadroomError('BAD_REQUEST', refusal, 'kv');
    }
    const plan = planHeads(options, shape, compute, found?.profile ?? null);
    if (plan == null) return null;
    return { mode: options.mode, plan, budget: planBudget(shape, plan, compute), profile: found == null ? null : summarizeProfile(found), scores: found?.profile.scores ?? null };
}
