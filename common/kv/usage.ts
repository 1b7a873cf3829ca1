// The KV-cache usage the memory gauges and the head map show, and the ONE place that maps
// the engine's numbers onto it. The stock cache's bytes come from policy.ts's formula with
// the model's real shape (source 'formula'); the head-level cache's from the engine's
// kvStats (`kvUsageFromStats`).
import { z } from 'zod';
import type { KvStats } from '../contract.ts';
import { HeadPolicy, KvPlacement, kvBytes, type HeadPlan, type HeadProfile, type KvShape } from './policy.ts';

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

/** The native cache's own numbers (engine.kvStats), with the profile's scores when it has one. */
export function kvUsageFromStats(stats: KvStats, scores: number[][] | null): KvUsage {
    let full = 0;
    let streaming = 0;
    // Streaming heads live with the model's layers; full heads where the plan put them.
    const compute: KvPlacement = stats.allocated.buffers.find((b) => b.kind === 'streaming')?.device ?? (stats.planned.gpu > 0 ? 'gpu' : 'cpu');
    const heads = stats.policy.map((row, layer) => row.map((policy, head) => {
        const bytes = stats.planned.perHead[layer]?.[head] ?? 0;
        if (policy === 'full') full += bytes;
        else streaming += bytes;
        return { policy, placement: policy === 'full' ? stats.fullPlacement : compute, score: scores?.[layer]?.[head] ?? null, bytes };
    }));
    // What llama.cpp allocated when it reported it; the plan's formula otherwise.
    const measured = stats.allocated.buffers.length > 0;
    return {
        source: 'kvStats',
        gpu: measured ? stats.allocated.gpu : stats.planned.gpu,
        cpu: measured ? stats.allocated.cpu : stats.planned.cpu,
        full, streaming, layers: heads.length, kvHeads: heads[0]?.length ?? 0, heads,
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
