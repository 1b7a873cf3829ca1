// How settings become engine requests: the one place that maps them onto model.load and
// memory.plan.
import type { KvOptions } from './kv/policy.ts';
import type { PlanRequest } from './plan.ts';
import type { Settings } from './settings.ts';

/** The default context when the setting is automatic and the model does not say. */
export const AUTOMATIC_CONTEXT = 8192;

export function kvOptionsOf(settings: Settings): KvOptions {
    return {
        mode: settings.kvMode,
        ...(settings.kvMode === 'budget' ? { budget: settings.kvBudget } : {}),
        sinks: settings.sinks,
        window: settings.window,
        offload: settings.kvOffload,
    };
}

/** The compression settings for a `kv` load option (undefined: compression off). */
export function kvSettingsOf(kv: KvOptions | undefined): Partial<Settings> {
    if (kv == null || kv.mode === 'off') return { kvMode: 'off' };
    return {
        kvMode: kv.mode, sinks: kv.sinks, window: kv.window, kvOffload: kv.offload,
        ...(kv.mode === 'budget' && kv.budget != null ? { kvBudget: kv.budget } : {}),
    };
}

export function loadParamsOf(path: string, settings: Settings) {
    return {
        path,
        ...(settings.contextSize != null ? { contextSize: settings.contextSize } : {}),
        ...(settings.threads != null ? { threads: settings.threads } : {}),
        gpuLayers: settings.gpuLayers,
        flashAttention: settings.flashAttention,
        kvCacheType: settings.kvCacheType,
        ...(settings.kvMode !== 'off' ? { kv: kvOptionsOf(settings) } : {}),
    };
}

export function planInputOf(path: string, settings: Settings, trainContextSize?: number): PlanRequest {
    const automatic = Math.min(trainContextSize || AUTOMATIC_CONTEXT, AUTOMATIC_CONTEXT);
    return {
        path,
        contextSize: settings.contextSize ?? automatic,
        gpuLayers: settings.gpuLayers,
        kv: kvOptionsOf(settings),
        kvCacheType: settings.kvCacheType,
        flashAttention: settings.flashAttention,
    };
}
