// What a model is loaded with, named once with the rules between its fields: the settings, the
// backend's loads, `ask`, `plan`, `serve` and the engine host all check a load against these.
import { z } from 'zod';
import { AUTOMATIC_CONTEXT, automaticContextSize, FlashAttention, GpuLayers, MAX_CONTEXT_TOKENS, Threads } from './loadOptions.ts';
import { KvCacheType, quantizedCacheRefusal } from './modelShape.ts';
import { KV_OFF, KvOptions } from './kv/policy.ts';
import type { FitResult, PlanRequest } from './plan.ts';

/** A field a rule between fields blames, as a path into LoadParams. */
export type LoadField = 'contextSize' | 'kv.window' | 'kv.sinks' | 'kvCacheType';

export interface LoadProblem {
    field: LoadField;
    message: string;
}

/** The fields of a load, before the rules between them. */
export const LoadParamsFields = z.object({
    path: z.string().min(1).max(4096),
    contextSize: z.number().int().min(64).max(MAX_CONTEXT_TOKENS).optional(),
    threads: Threads.optional(),
    /** Head-level KV compression; omitted or mode 'off' means the stock cache. */
    kv: KvOptions.optional(),
    gpuLayers: GpuLayers.optional(),
    flashAttention: FlashAttention.optional(),
    kvCacheType: KvCacheType.optional(),
}).strict();

/**
 * The rules between a load's fields, each with the field it blames. `kv` is checked whatever its
 * mode when `checkKvOff` is set (the settings keep a window that fits even while compression is off).
 */
export function loadParamsProblems(params: Omit<z.infer<typeof LoadParamsFields>, 'path'>, options: { checkKvOff?: boolean } = {}): LoadProblem[] {
    const problems: LoadProblem[] = [];
    const { contextSize, kv } = params;
    const compressed = kv != null && (kv.mode !== 'off' || options.checkKvOff === true);
    if (contextSize != null && compressed && kv.window >= contextSize) {
        problems.push({ field: 'kv.window', message: `The window (${kv.window} tokens) must be smaller than the context (${contextSize} tokens).` });
    }
    if (contextSize != null && compressed && kv.sinks + kv.window > contextSize) {
        problems.push({ field: 'kv.sinks', message: 'Sinks plus window must fit in the context.' });
    }
    const quantized = quantizedCacheRefusal(params.kvCacheType ?? 'f16', params.flashAttention ?? 'auto');
    if (quantized != null) problems.push({ field: 'kvCacheType', message: quantized });
    return problems;
}

/** A model load as the backend sends it to the engine host: every field checked, then the rules between them. */
export const LoadParams = LoadParamsFields.superRefine((params, context) => {
    for (const { field, message } of loadParamsProblems(params)) context.addIssue({ code: 'custom', path: field.split('.'), message });
});
export type LoadParams = z.infer<typeof LoadParams>;

/** How a loaded context's size was chosen, and that choice in words (the model card and the gauges show it). */
export const ContextChoice = z.object({
    /** automatic: the longest that fits here, up to the trained length; setting: Settings → Context size; override: a one-off for this load; given: a caller's own load parameters (ask, the benchmarks, tests). */
    source: z.enum(['automatic', 'setting', 'override', 'given']),
    tokens: z.number().int().positive(),
    /** "Automatic: the longest that fits here with compression: 65,536 tokens." */
    summary: z.string().max(500),
});
export type ContextChoice = z.infer<typeof ContextChoice>;

const fmt = (n: number) => n.toLocaleString('en-US');

/** What the planner is asked about a load: the load's own options, at a context size. */
export function planRequestOf(params: LoadParams, contextSize: number): PlanRequest {
    return {
        path: params.path, contextSize, gpuLayers: params.gpuLayers ?? 'auto', kv: params.kv ?? KV_OFF,
        kvCacheType: params.kvCacheType ?? 'f16', flashAttention: params.flashAttention ?? 'auto',
    };
}

/**
 * The automatic context, from the planner's Fit (goal 'context': the longest that fits this
 * machine with the model's head plan, up to what it was trained for), said as the app says it.
 * `trained`: the model's trained length, for when nothing fits (the load then tries the old
 * default, what it was trained for up to 8,192 tokens, and says so).
 */
export function automaticContextOf(fit: FitResult, trained: number): ContextChoice {
    if (fit.request == null || fit.plan == null) {
        const tokens = automaticContextSize(trained);
        return { source: 'automatic', tokens, summary: `Automatic: ${fmt(tokens)} tokens, though the planner found no context that fits here (${fit.message.replace(/\.$/, '')}).` };
    }
    const how = fit.plan.budget != null ? 'with compression' : 'with the full cache';
    const trainedFor = fit.plan.model.trainContextSize;
    if (trainedFor <= 0) {
        // A model that does not say what it was trained for gets the old default, not a million tokens.
        const tokens = Math.min(fit.request.contextSize, AUTOMATIC_CONTEXT);
        return { source: 'automatic', tokens, summary: `Automatic: ${fmt(tokens)} tokens (the model does not say what context it was trained for).` };
    }
    const tokens = fit.request.contextSize;
    if (tokens >= trainedFor) return { source: 'automatic', tokens, summary: `Automatic: all ${fmt(tokens)} tokens the model was trained for fit here ${how}.` };
    return { source: 'automatic', tokens, summary: `Automatic: the longest that fits here ${how}: ${fmt(tokens)} tokens.` };
}
