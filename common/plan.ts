// The memory plan's shape: what the planner predicts for a model at given settings, and how
// it compares with this machine. Pure zod, shared by the engine host, the CLI and the UI.
import { z } from 'zod';
import { KvOptions } from './kv/policy.ts';
import { KvUsage } from './kv/usage.ts';

const Bytes = z.number().nonnegative();
export const DeviceBytes = z.object({ gpu: Bytes, cpu: Bytes });
export type DeviceBytes = z.infer<typeof DeviceBytes>;

export const KvCacheTypeSchema = z.enum(['f16', 'q8_0']);

export const PlanRequest = z.object({
    path: z.string().min(1).max(4096),
    contextSize: z.number().int().min(64).max(1 << 20),
    /** 'auto': as many layers as node-llama-cpp would offload on this machine. */
    gpuLayers: z.union([z.literal('auto'), z.number().int().min(0).max(1024)]).default('auto'),
    kv: KvOptions.default({ mode: 'off', sinks: 4, window: 128, offload: 'auto' }),
    kvCacheType: KvCacheTypeSchema.default('f16'),
    flashAttention: z.enum(['auto', 'on', 'off']).default('auto'),
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
        kvCacheTypes: z.array(KvCacheTypeSchema),
    }),
    contextSize: z.number().int().positive(),
    contextCells: z.number().int().positive(),
    gpuLayers: z.number().int().nonnegative(),
    /** The budget the KV plan spends (1 = stock cache); null for the stock cache itself. */
    budget: z.number().nullable(),
    kvCacheType: KvCacheTypeSchema,
    predicted: Prediction,
    kv: KvUsage,
    machine: Machine,
    /** Why it does not fit, or caveats of the prediction, in plain words. */
    notes: z.array(z.string()),
});
export type MemoryPlan = z.infer<typeof MemoryPlan>;

export const FitGoal = z.enum(['context', 'compression']);
export const FitRequest = z.object({ request: PlanRequest, goal: FitGoal }).strict();
export const FitResult = z.object({
    /** The settings that fit (context size or budget changed), or null when nothing fits. */
    request: PlanRequest.nullable(),
    plan: MemoryPlan.nullable(),
    message: z.string(),
});
export type FitResult = z.infer<typeof FitResult>;
