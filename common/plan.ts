// The memory plan's shape: what the planner predicts for a model at given settings, and how
// it compares with this machine. Pure zod, shared by the engine host, the CLI and the UI.
import { z } from 'zod';
import { Bytes, Device, DeviceBytes } from './devices.ts';
import { FlashAttention, GpuLayers, MAX_CONTEXT_TOKENS } from './loadOptions.ts';
import { KvCacheType } from './modelShape.ts';
import { KV_OFF, KvOptions } from './kv/policy.ts';
import { KvUsage } from './kv/usage.ts';

export const PlanRequest = z.object({
    path: z.string().min(1).max(4096),
    contextSize: z.number().int().min(64).max(MAX_CONTEXT_TOKENS),
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
    /** The GPU's name as llama.cpp's backend reports it (e.g. "llvmpipe (LLVM 19.1.7, 256 bits)"); null without one. */
    gpuName: z.string().nullable().optional(),
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

/**
 * What keeping the full heads in CPU RAM costs each decoded token, said before it is chosen (engine/planner.ts,
 * offloadDecodeCost): the bytes that cross between the GPU and the CPU, and decode estimated both ways at a full
 * context from a read-rate model whose rates, and their source, come with it.
 */
export const OffloadCost = z.object({
    /** Per decoded token: each layer with full heads sends their queries and new keys and values to the CPU, and their attention output back. */
    crossingBytesPerToken: Bytes,
    /** The full heads' KV at a full context: what the CPU reads per decoded token instead of the GPU. */
    fullKvBytes: Bytes,
    /** Layers whose full heads are attended on the CPU: each waits for two crossings. */
    crossingLayers: z.number().int().nonnegative(),
    /** Estimated decode at a full context, tokens/s: full heads attended on the GPU, and in CPU RAM. */
    decodeTokPerSec: z.object({ gpu: z.number().positive(), cpu: z.number().positive() }),
    /** The rates the estimate assumed: bytes/s read of weights and of KV on each device, copied across, and seconds per crossing. */
    rates: z.object({
        gpuWeights: z.number().positive(), gpuKv: z.number().positive(), cpuWeights: z.number().positive(), cpuKv: z.number().positive(),
        link: z.number().positive(), crossingSeconds: z.number().nonnegative(),
    }),
    /** Where the rates come from, in words. */
    source: z.string(),
    /** The cost in one sentence, as the planner and the settings show it. */
    summary: z.string(),
});
export type OffloadCost = z.infer<typeof OffloadCost>;

/** Where a plan keeps the full heads, why, and what CPU RAM would cost. */
export const OffloadChoice = z.object({
    placement: Device,
    /** asked: the setting said so; fits: 'auto' kept them on the GPU; moved: 'auto' put them in RAM because the GPU could not hold them; no-gpu: nothing else runs here. */
    why: z.enum(['asked', 'fits', 'moved', 'no-gpu']),
    /** One sentence for people. */
    note: z.string(),
    /** With a GPU in use: the cost of full heads in CPU RAM against the GPU; null without one. */
    cost: OffloadCost.nullable(),
});
export type OffloadChoice = z.infer<typeof OffloadChoice>;

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
    /** Where the full heads live and what CPU RAM costs (null: the full cache, no head plan). */
    offload: OffloadChoice.nullable().optional(),
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
