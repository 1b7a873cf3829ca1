// The memory plan's shape: what the planner predicts for a model at given settings, and how
// it compares with this machine. Pure zod, shared by the engine host, the CLI and the UI.
import { z } from 'zod';
import { Bytes, DeviceBytes } from './devices.ts';
import { FlashAttention, GpuLayers } from './loadOptions.ts';
import { KvCacheType } from './modelShape.ts';
import { KV_OFF, KvOptions } from './kv/policy.ts';
import { KvUsage } from './kv/usage.ts';

export const PlanRequest = z.object({
    path: z.string().min(1).max(4096),
    contextSize: z.number().int().min(64).max(1 << 20),
    gpuLayers: GpuLayers.default('auto'),
    kv: KvOptions.default(KV_OFF),
    kvCacheType: KvCacheType.default('f16'),
    flashAttention: FlashAttention.default('auto'),
}).strict();
export type PlanRequest = z.infer<typeof PlanRequest>;
export type PlanInput = z.input<typeof PlanRequest>;

export const Machine = z.object({
    /** 'cuda' | 'vulkan' | 'metal', or false when llama.cpp runs on the CPU only. */
    gpu: z.union([z.string(), z.literal(false)]),
    vramTotal: Bytes,
    vramFree: Bytes,
    ramTotal: Bytes,
    ramFree: Bytes,
});
export type Machine = z.infer<typeof Machine>;

export const Prediction = z.object({
    weightsBytes: Bytes,
    weights: DeviceBytes,
    kvBytes: DeviceBytes,
    computeBytes: DeviceBytes,
    gpuBytes: Bytes,
    cpuBytes: Bytes,
    fits: z.boolean(),
});
export type Prediction = z.infer<typeof Prediction>;

export const MemoryPlan = z.object({
    model: z.object({
        path: z.string(),
        name: z.string(),
        layers: z.number().int().nonnegative(),
        kvHeads: z.number().int().nonnegative(),
        headDim: z.number().int().nonnegative(),
        trainContextSize: z.number().int().nonnegative(),
        kvCacheTypes: z.array(KvCacheType),
    }),
    contextSize: z.number().int().positive(),
    contextCells: z.number().int().positive(),
    gpuLayers: z.number().int().nonnegative(),
    /** The budget the KV plan spends (1 = stock cache); null for the stock cache itself. */
    budget: z.number().nullable(),
    kvCacheType: KvCacheType,
    predicted: Prediction,
    kv: KvUsage,
    machine: Machine,
    /** Why it does not fit, or caveats of the prediction, in plain words. */
    notes: z.array(z.string()),
});
export type MemoryPlan = z.infer<typeof MemoryPlan>;

export const FitGoal = z.enum(['context', 'compression']);
export type FitGoal = z.infer<typeof FitGoal>;
export const FitRequest = z.object({ request: PlanRequest, goal: FitGoal }).strict();
export const FitResult = z.object({
    /** The settings that fit (context size or budget changed), or null when nothing fits. */
    request: PlanRequest.nullable(),
    plan: MemoryPlan.nullable(),
    message: z.string(),
});
export type FitResult = z.infer<typeof FitResult>;

/** Headroom plans to use at most this share of free memory: the rest is for the OS, the window and drivers. */
export const HEADROOM_FRACTION = 0.9;

/**
 * Whether memory needs fit a machine's free memory, and in words why not. Nothing asked of the
 * GPU always fits it.
 */
export function machineVerdict(needs: { gpuBytes: number; cpuBytes: number }, machine: Machine): { gpuFits: boolean; cpuFits: boolean; notes: string[] } {
    const gpuFits = needs.gpuBytes === 0 || needs.gpuBytes <= machine.vramFree * HEADROOM_FRACTION;
    const cpuFits = needs.cpuBytes <= machine.ramFree * HEADROOM_FRACTION;
    const spare = `Headroom leaves ${Math.round((1 - HEADROOM_FRACTION) * 100)}% spare`;
    const notes: string[] = [];
    if (!gpuFits) notes.push(`Needs ${gib(needs.gpuBytes)} of GPU memory; ${gib(machine.vramFree)} is free (${spare}).`);
    if (!cpuFits) notes.push(`Needs ${gib(needs.cpuBytes)} of RAM; ${gib(machine.ramFree)} is free (${spare}).`);
    return { gpuFits, cpuFits, notes };
}

function gib(bytes: number): string {
    return bytes >= 1 << 30 ? `${(bytes / (1 << 30)).toFixed(1)} GiB` : `${(bytes / (1 << 20)).toFixed(0)} MiB`;
}
