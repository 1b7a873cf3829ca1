// What the KV cache holds and where: the engine's account of it (KvStats: the plan's formula
// next to what llama.cpp allocated) and the usage the memory gauges and the head map draw
// (KvUsage), with the ONE place that maps the former onto the latter. The stock cache's
// usage comes from policy.ts's formula with the model's real shape (source 'formula').
import { z } from 'zod';
import { Bytes, Device, sumByDevice } from '../devices.ts';
import { isWindowLayer, type KvShape } from '../modelShape.ts';
import { HeadPolicy, KvMode, kvBytes, policyAt, type HeadPlan, type HeadProfile } from './policy.ts';

/** Whether head-level KV compression can run for the loaded model, and whether it does. */
export const KvCompression = z.object({
    /** This llama.cpp build has the head-level cache and the model's architecture supports it. */
    available: z.boolean(),
    active: z.boolean(),
    /** Why it is unavailable or off, in plain words; null when active. */
    reason: z.string().nullable(),
});
export type KvCompression = z.infer<typeof KvCompression>;

/** One KV buffer llama.cpp allocated: the head-level cache's full, streaming or (the model's own) window heads, or the stock cache. */
export const KvBuffer = z.object({
    kind: z.enum(['full', 'streaming', 'window', 'stock']),
    /** ggml buffer type name: CPU, CUDA0, CUDA_Host, Vulkan0, Metal… */
    bufferType: z.string(),
    device: Device,
    bytes: Bytes,
    cells: z.number().int().nonnegative(),
});
export type KvBuffer = z.infer<typeof KvBuffer>;

/** What the KV cache holds and where: the plan's formula next to what llama.cpp allocated. */
export const KvStats = z.object({
    compression: KvCompression,
    mode: KvMode,
    /** Fraction of the stock cache's bytes the plan spends (1 for the stock cache). */
    budget: z.number().positive(),
    /** Where the head scores came from: a HeadProfile's source and path, or null (fallback order: later layers first). */
    profile: z.object({ source: z.string(), path: z.string() }).nullable(),
    sinks: z.number().int().nonnegative(),
    window: z.number().int().positive(),
    fullPlacement: Device,
    contextCells: z.number().int().positive(),
    streamingCells: z.number().int().nonnegative(),
    /** Tokens in the context now, and how many of them a full and a streaming head hold. */
    tokens: z.object({ context: z.number().int().nonnegative(), full: z.number().int().nonnegative(), streaming: z.number().int().nonnegative() }),
    /** policy[layer][kvHead]; every head 'full' for the stock cache. */
    policy: z.array(z.array(HeadPolicy)),
    /** kvBytes() of policy.ts for this plan. */
    planned: z.object({ gpu: Bytes, cpu: Bytes, full: Bytes, streaming: Bytes, window: Bytes, perHead: z.array(z.array(Bytes)) }),
    /** The buffers llama.cpp reported allocating (empty when the build does not report them). */
    allocated: z.object({ gpu: Bytes, cpu: Bytes, buffers: z.array(KvBuffer) }),
});
export type KvStats = z.infer<typeof KvStats>;

export const HeadCell = z.object({
    policy: HeadPolicy,
    placement: Device,
    /** The profile's score for the head; null when no profile was measured. */
    score: z.number().nullable(),
    bytes: Bytes,
});
export type HeadCell = z.infer<typeof HeadCell>;

export const KvUsage = z.object({
    /** 'kvStats': measured by the engine's cache; 'formula': computed from the model's shape. */
    source: z.enum(['kvStats', 'formula']),
    gpu: Bytes,
    cpu: Bytes,
    full: Bytes,
    streaming: Bytes,
    /** The model's own window layers (Gemma 2/3). */
    window: Bytes,
    layers: z.number().int().nonnegative(),
    kvHeads: z.number().int().nonnegative(),
    /** heads[layer][kvHead]. */
    heads: z.array(z.array(HeadCell)),
});
export type KvUsage = z.infer<typeof KvUsage>;

function totalsByPolicy(heads: HeadCell[][]): Record<HeadPolicy, number> {
    const totals = { full: 0, streaming: 0, window: 0 };
    for (const cell of heads.flat()) totals[cell.policy] += cell.bytes;
    return totals;
}

/** The native cache's own numbers (engine.kvStats), with the profile's scores when it has one. */
export function kvUsageFromStats(stats: KvStats, scores: number[][] | null): KvUsage {
    // Streaming heads live with the model's layers; full heads where the plan put them.
    const compute: Device = stats.allocated.buffers.find((b) => b.kind === 'streaming')?.device ?? (stats.planned.gpu > 0 ? 'gpu' : 'cpu');
    const heads = stats.policy.map((row, layer) => row.map((policy, head) => ({
        policy,
        placement: policy === 'full' ? stats.fullPlacement : compute,
        score: scores?.[layer]?.[head] ?? null,
        bytes: stats.planned.perHead[layer]?.[head] ?? 0,
    })));
    // What llama.cpp allocated when it reported it; the plan's formula otherwise.
    const measured = stats.allocated.buffers.length > 0 ? stats.allocated : stats.planned;
    return { source: 'kvStats', gpu: measured.gpu, cpu: measured.cpu, ...totalsByPolicy(heads), layers: heads.length, kvHeads: heads[0]?.length ?? 0, heads };
}

/**
 * The cache as policy.ts computes it. With no plan it is the stock cache, whose layers live
 * with their weights: the first `gpuLayers` layers on the GPU, the rest in CPU RAM.
 */
export function kvUsageFromFormula(
    shape: KvShape, plan: HeadPlan | null, options: { gpuLayers: number; profile?: HeadProfile | null },
): KvUsage {
    const computeOf = (layer: number): Device => (layer < options.gpuLayers ? 'gpu' : 'cpu');
    const heads: HeadCell[][] = [];
    // One layer at a time so that a stock cache split across devices follows its layers.
    for (let layer = 0; layer < shape.layers; layer++) {
        const layerPlan = plan == null ? null : { ...plan, policy: [plan.policy[layer] ?? []] };
        const row = kvBytes({ ...shape, layers: 1, windowLayers: [isWindowLayer(shape, layer)] }, layerPlan, computeOf(layer)).perHead[0] ?? [];
        heads.push(row.map((bytes, head) => {
            const policy = policyAt(shape, plan, layer, head);
            const placement = policy === 'full' && plan != null ? plan.fullPlacement : computeOf(layer);
            return { policy, placement, score: options.profile?.scores[layer]?.[head] ?? null, bytes };
        }));
    }
    const { gpu, cpu } = sumByDevice(heads.flat().map((cell) => ({ device: cell.placement, bytes: cell.bytes })));
    return { source: 'formula', gpu, cpu, ...totalsByPolicy(heads), layers: shape.layers, kvHeads: shape.kvHeads, heads };
}
