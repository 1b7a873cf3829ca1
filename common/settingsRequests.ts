// How settings become engine requests: the one place that maps them onto model.load and
// memory.plan, and back from the `--kv` flag of `npm run serve`.
import type { Params } from './contract.ts';
import { automaticContextSize } from './loadOptions.ts';
import type { KvOptions } from './kv/policy.ts';
import type { PlanRequest } from './plan.ts';
import type { Settings } from './settings.ts';

export function kvOptionsOf(settings: Settings): KvOptions {
    return {
        mode: settings.kvMode,
        ...(settings.kvMode === 'budget' ? { budget: settings.kvBudget } : {}),
        sinks: settings.sinks,
        window: settings.window,
        offload: settings.kvOffload,
    };
}

/** The compression settings for a `kv` load option (mode 'off': compression off). */
export function kvSettingsOf(kv: KvOptions): Partial<Settings> {
    if (kv.mode === 'off') return { kvMode: 'off' };
    return {
        kvMode: kv.mode, sinks: kv.sinks, window: kv.window, kvOffload: kv.offload,
        ...(kv.mode === 'budget' && kv.budget != null ? { kvBudget: kv.budget } : {}),
    };
}

export function loadParamsOf(path: string, settings: Settings): Params<'model.load'> {
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
    return {
        path,
        contextSize: settings.contextSize ?? automaticContextSize(trainContextSize),
        gpuLayers: settings.gpuLayers,
        kv: kvOptionsOf(settings),
        kvCacheType: settings.kvCacheType,
        flashAttention: settings.flashAttention,
    };
}
