// Turns what a user asked for (KvOptions) into the plan the native cache is given, from the
// model's shape and, when there is one, its HeadProfile.
import { readFile } from 'node:fs/promises';
import { HeadroomError } from '../../common/rpc.ts';
import { storedProfileFor } from './profiles.ts';
import { attentionOf, kvShapeOf, type AttentionMetadata, type KvCacheType } from '../../common/modelShape.ts';
import { HeadProfile, planForBudget, type HeadPlan, type KvOptions, type KvPlacement, type KvShape } from '../../common/kv/policy.ts';

/** Tokens per ubatch while compression is on: a streaming head holds one ubatch beyond its window. */
export const COMPRESSED_UBATCH = 128;

/** Mode 'auto' without a profile spends this fraction of the stock cache. */
export const AUTO_BUDGET_WITHOUT_PROFILE = 0.5;

/** Architectures whose llama.cpp graph builder splits attention by head (see native/patches). */
export const HEADWISE_ARCHITECTURES = new Set(['llama']);

type Metadata = Record<string, unknown>;

/** The KV geometry of a GGUF's model: null when the metadata does not describe plain attention heads. */
export function kvShapeFromMetadata(metadata: Metadata, contextCells: number, ubatch: number, cacheType: KvCacheType = 'f16'): KvShape | null {
    const arch = String((metadata.general as { architecture?: string } | undefined)?.architecture ?? '');
    const attention = attentionOf((metadata[arch] ?? {}) as AttentionMetadata);
    if (![attention.layers, attention.kvHeads, attention.keyDim, attention.valueDim].every((v) => Number.isInteger(v) && v > 0)) return null;
    return kvShapeOf(attention, { contextCells, ubatch, cacheType });
}

/** Scores for a model with no profile: later layers first, then lower heads (a guess, reported as profile: null). */
export function fallbackScores(shape: KvShape): number[][] {
    return Array.from({ length: shape.layers }, (_, layer) => Array.from({ length: shape.kvHeads }, () => layer));
}

export async function readHeadProfile(file: string, shape: KvShape): Promise<HeadProfile> {
    let raw: unknown;
    try {
        raw = JSON.parse(await readFile(file, 'utf8'));
    } catch (error) {
        throw new HeadroomError('BAD_REQUEST', `Could not read the head profile ${file}: ${(error as Error).message}`);
    }
    const parsed = HeadProfile.safeParse(raw);
    if (!parsed.success) throw new HeadroomError('BAD_REQUEST', `${file} is not a head profile: ${parsed.error.issues[0]?.message}`);
    const profile = parsed.data;
    if (profile.layers !== shape.layers || profile.kvHeads !== shape.kvHeads
        || profile.scores.length !== shape.layers || profile.scores.some((row) => row.length !== shape.kvHeads)) {
        throw new HeadroomError('BAD_REQUEST', `The head profile ${file} is for a model with ${profile.layers} layers × ${profile.kvHeads} KV heads; this one has ${shape.layers} × ${shape.kvHeads}.`);
    }
    return profile;
}

export interface ResolvedKv {
    plan: HeadPlan;
    budget: number;
    profile: { source: string; path: string } | null;
    /** The profile's head scores, or null when the plan used the fallback order. */
    scores: number[][] | null;
}

/** A profile and where it came from (a file path). */
export interface FoundProfile {
    profile: HeadProfile;
    path: string;
}

/**
 * The head profile a load uses: the explicit KvOptions.profile file, else the one the profiler
 * stored for this model file (by sha256), else none. A stored profile of another shape is ignored.
 */
export async function profileForLoad(options: Pick<KvOptions, 'profile'>, shape: KvShape, modelPath?: string): Promise<FoundProfile | null> {
    if (options.profile != null) return { profile: await readHeadProfile(options.profile, shape), path: options.profile };
    if (modelPath == null) return null;
    const stored = await storedProfileFor(modelPath);
    if (stored == null || stored.profile.layers !== shape.layers || stored.profile.kvHeads !== shape.kvHeads) return null;
    return stored;
}

/** The plan for a budget or 'auto' from a profile's scores (or the fallback order without one). */
export function planFromProfile(options: KvOptions, shape: KvShape, gpu: boolean, found: FoundProfile | null): ResolvedKv {
    const fullPlacement: KvPlacement = options.offload === 'auto' ? (gpu ? 'gpu' : 'cpu') : options.offload;
    const profile = found?.profile ?? null;
    let budget: number;
    if (options.mode === 'budget') {
        if (options.budget == null) throw new HeadroomError('BAD_REQUEST', 'KV mode "budget" needs a budget between 0 and 1.');
        budget = options.budget;
    } else {
        budget = profile?.recommendedBudget ?? AUTO_BUDGET_WITHOUT_PROFILE;
    }
    const scores = profile?.scores ?? fallbackScores(shape);
    const plan = planForBudget(shape, scores, budget, { sinks: options.sinks, window: options.window, fullPlacement });
    return { plan, budget, profile: found == null ? null : { source: found.profile.source, path: found.path }, scores: profile?.scores ?? null };
}

/** KvOptions → the native plan; `modelPath` lets a load without an explicit profile find the stored one. */
export async function resolveKvPlan(options: KvOptions, shape: KvShape, gpu: boolean, modelPath?: string): Promise<ResolvedKv> {
    return planFromProfile(options, shape, gpu, await profileForLoad(options, shape, modelPath));
}
