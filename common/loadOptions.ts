// The options a model is loaded with, named once: the load request, the memory plan and the
// settings all use these.
import { z } from 'zod';

/** 'auto': as many layers as node-llama-cpp would offload on this machine. */
export const GpuLayers = z.union([z.literal('auto'), z.number().int().min(0).max(1024)]);
export type GpuLayers = z.infer<typeof GpuLayers>;

export const FlashAttention = z.enum(['auto', 'on', 'off']);
export type FlashAttention = z.infer<typeof FlashAttention>;

export const Threads = z.number().int().min(1).max(256);

/**
 * Which llama.cpp the engine host loads: 'compressed' is Headroom's patched build (head-level KV
 * compression, on the GPU it was built for); 'stock' is node-llama-cpp's prebuilt one (no compression).
 */
export const EngineChoice = z.enum(['compressed', 'stock']);
export type EngineChoice = z.infer<typeof EngineChoice>;

/** The engine host reads the choice from this variable when it starts (one llama.cpp per process). */
export const ENGINE_CHOICE_ENV = 'HEADROOM_LLAMA_BUILD';

/** The engine host's environment for a choice. */
export function engineEnv(choice: EngineChoice): Record<string, string> {
    return { [ENGINE_CHOICE_ENV]: choice === 'stock' ? 'stock' : 'headwise' };
}

/** node-llama-cpp's flashAttention option for a setting. */
export function flashAttentionOption(setting: FlashAttention): 'auto' | boolean {
    return setting === 'auto' ? 'auto' : setting === 'on';
}

/**
 * The context a load gets when none is asked for and none was chosen for it (the app chooses the
 * automatic context with the planner, automaticContextOf in common/loadParams.ts; this is its
 * fallback where nothing fits, and the engine's own default for callers that ask for no size):
 * what the model was trained for, at most 8,192 tokens.
 */
export const AUTOMATIC_CONTEXT = 8192;
/** The longest context Headroom loads or plans (llama.cpp has no limit of its own but memory). */
export const MAX_CONTEXT_TOKENS = 1 << 20;

export function automaticContextSize(trainContextSize: number | undefined): number {
    return Math.min(trainContextSize || AUTOMATIC_CONTEXT, AUTOMATIC_CONTEXT);
}
