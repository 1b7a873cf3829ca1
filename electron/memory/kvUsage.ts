// The KV-cache usage the memory gauges and the head map show, and the ONE place that maps
// the engine's numbers onto it. Until the native per-head cache lands, the stock cache's
// bytes come from policy.ts's formula with the model's real shape (source 'formula'); once
// the engine answers kvStats, `kvUsageFromStats` is the only function that needs to know
// its shape (EngineKvStats below).
import { z } from 'zod';
import { HeadPolicy, KvPlacement, kvBytes, type HeadPlan, type HeadProfile, type KvShape } from '../engine/kv/policy.ts';

export const HeadCell = z.object({
    policy: HeadPolicy,
    placement: KvPlacement,
    /** The profile's score for the head; null when no profile was measured. */
    score: z.number().nullable(),
    bytes: z.number().nonnegative(),
});
export type HeadCell = z.infer<typeof HeadCell>;

export const KvUsage = z.object({
    /** 'kvStats': measured by the engine's cache; 'formula': computed from the model's shape. */
    source: z.enum(['kvStats', 'formula']),
    gpu: z.number().nonnegative(),
    cpu: z.number().nonnegative(),
    full: z.number().nonnegative(),
    streaming: z.number().nonnegative(),
    layers: z.number().int().nonnegative(),
    kvHeads: z.number().int().nonnegative(),
    /** heads[layer][kvHead]. */
    heads: z.array(z.array(HeadCell)),
});
export type KvUsage = z.infer<typeof KvUsage>;

/**
 * What this side expects from the native engine's `engine.kvStats` (branch native). If its
 * shape differs, adapt here and nowhere else.
 */
export interface EngineKvStats {
    gpuBytes: number;
    cpuBytes: number;
    heads: Array<Array<{ policy: HeadPolicy; placement: KvPlacement; bytes: number; score?: number | null }>>;
}

export function kvUsageFromStats(stats: EngineKvStats): KvUsage {
    let full = 0;
    let streaming = 0;
    const heads = stats.heads.map((row) => row.map((head) => {
        if (head.policy === 'full') full += head.bytes;
        else streaming += head.bytes;
        return { policy: head.policy, placement: head.placement, score: head.score ?? null, bytes: head.bytes };
    }));
    return {
        source: 'kvStats', gpu: stats.gpuBytes, cpu: stats.cpuBytes, full, streaming,
        layers: heads.length, kvHeads: heads[0]?.length ?? 0, heads,
    };
}

/**
 * The cache as policy.ts computes it. With no plan it is the stock cache, whose layers live
 * with their weights: the first `gpuLayers` layers on the GPU, the rest in CPU RAM.
 */
export function kvUsageFromFormula(
    shape: KvShape, plan: HeadPlan | null, options: { gpuLayers: number; profile?: HeadProfile | null },
): KvUsage {
    const computeOf = (layer: number): KvPlacement => (layer < options.gpuLayers ? 'gpu' : 'cpu');
    let gpu = 0;
    let cpu = 0;
    const heads: HeadCell[][] = [];
    // One layer at a time so that a stock cache split across devices follows its layers.
    for (let layer = 0; layer < shape.layers; layer++) {
        const oneLayer = { ...shape, layers: 1 };
        const layerPlan = plan == null ? null : { ...plan, policy: [plan.policy[layer]] };
        const bytes = kvBytes(oneLayer, layerPlan, computeOf(layer));
        gpu += bytes.gpu;
        cpu += bytes.cpu;
        heads.push(bytes.perHead[0].map((headBytes, head) => {
            const policy = plan?.policy[layer][head] ?? 'full';
            const placement = policy === 'full' && plan != null ? plan.fullPlacement : computeOf(layer);
            return { policy, placement, score: options.profile?.scores[layer]?.[head] ?? null, bytes: headBytes };
        }));
    }
    const all = heads.flat();
    const sum = (policy: HeadPolicy) => all.filter((h) => h.policy === policy).reduce((a, h) => a + h.bytes, 0);
    return { source: 'formula', gpu, cpu, full: sum('full'), streaming: sum('streaming'), layers: shape.layers, kvHeads: shape.kvHeads, heads };
}
