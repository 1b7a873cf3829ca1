// Every user setting: its zod rule, its default, one line saying what it does, and whether
// changing it needs the model reloaded. Pure zod, shared by the backend and the UI.
import { z } from 'zod';
import { EngineChoice, FlashAttention, GpuLayers, MAX_CONTEXT_TOKENS, Threads } from './loadOptions.ts';
import { loadParamsProblems, type LoadField } from './loadParams.ts';
import { KvCacheType } from './modelShape.ts';
import { DEFAULT_SINKS, DEFAULT_WINDOW, KvMode, KvOffload, type KvOptions } from './kv/policy.ts';

export const Settings = z.object({
    engine: EngineChoice,
    gpuLayers: GpuLayers,
    /** null: automatic (the longest context that fits this machine with the model's head plan, up to what it was trained for). */
    contextSize: z.number().int().min(256).max(MAX_CONTEXT_TOKENS).nullable(),
    kvMode: KvMode,
    /** Fraction of the full cache to keep when kvMode is 'budget'. */
    kvBudget: z.number().gt(0, 'must be more than 0').max(1, 'must be at most 1 (100%)'),
    sinks: z.number().int().min(0).max(1024),
    window: z.number().int().min(1).max(MAX_CONTEXT_TOKENS),
    kvOffload: KvOffload,
    kvCacheType: KvCacheType,
    flashAttention: FlashAttention,
    /** null: automatic. */
    threads: Threads.nullable(),
    appearance: z.enum(['system', 'light', 'dark']),
    /** null: the default folder (~/.local/share/headroom/models on Linux). */
    modelsFolder: z.string().trim().max(4096).regex(/^(\/|[A-Za-z]:[\\/]|\\\\)/, 'must be an absolute path').nullable(),
}).strict();
export type Settings = z.infer<typeof Settings>;
export type SettingKey = keyof Settings;

export const DEFAULT_SETTINGS: Settings = {
    engine: 'compressed',
    gpuLayers: 'auto',
    contextSize: null,
    // Compression on: a model with a head profile (stored or shipped) runs compressed, one without
    // runs the full cache and is offered a profile. Where compression is unavailable (the stock
    // build, another architecture) the load says so and runs the full cache.
    kvMode: 'auto',
    kvBudget: 0.5,
    sinks: DEFAULT_SINKS,
    window: DEFAULT_WINDOW,
    kvOffload: 'auto',
    kvCacheType: 'f16',
    flashAttention: 'auto',
    threads: null,
    appearance: 'system',
    modelsFolder: null,
};

export const SETTING_KEYS = Settings.keyof().options;

export function isSettingKey(key: string | undefined): key is SettingKey {
    return key != null && (SETTING_KEYS as readonly string[]).includes(key);
}

/** One line per setting, shown under it. */
export const SETTING_HELP: Record<SettingKey, string> = {
    engine: 'Headroom\'s llama.cpp compresses the cache; the stock one cannot, but uses your GPU where Headroom\'s was built for the CPU only.',
    gpuLayers: 'How many of the model\'s layers run on the GPU; "auto" offloads as many as fit.',
    contextSize: 'How many tokens the model can see at once: the document, the chat and the reply. Automatic: the longest that fits this machine with the model\'s head plan, up to what it was trained for.',
    kvMode: 'Compress the attention cache head by head so that long documents fit in less memory.',
    kvBudget: 'How much of the full cache compression keeps; less memory, but retrieval may suffer.',
    sinks: 'First tokens every compressed head always keeps (attention sinks).',
    window: 'Most recent tokens every compressed head keeps.',
    kvOffload: 'Where the full heads\' cache lives and is attended: GPU memory (fast), or CPU RAM (roomy: the CPU attends it there, so only queries and results cross to the GPU).',
    kvCacheType: 'Number format of the cache: q8_0 takes about half of f16\'s memory and q4_0 about a quarter, at a small cost in quality.',
    flashAttention: 'A faster, leaner attention kernel; "auto" uses it where the model and hardware support it.',
    threads: 'CPU threads for generation; automatic picks what suits the model.',
    appearance: 'Light, dark, or follow the system.',
    modelsFolder: 'Where Headroom keeps the models it downloads; models in other apps\' folders are found where they are.',
};

/** What each setting is called in the UI and in refusals. */
export const SETTING_LABELS: Record<SettingKey, string> = {
    engine: 'Engine', gpuLayers: 'GPU layers', contextSize: 'Context size', kvMode: 'KV compression', kvBudget: 'Compression budget',
    sinks: 'Sinks', window: 'Window', kvOffload: 'KV offload', kvCacheType: 'KV cache type',
    flashAttention: 'Flash attention', threads: 'Threads', appearance: 'Appearance', modelsFolder: 'Models folder',
};

/** Settings that take effect only when the model is loaded again. */
export const RELOAD_SETTINGS: ReadonlySet<SettingKey> = new Set(SETTING_KEYS.filter((key) => key !== 'appearance' && key !== 'modelsFolder'));

export const SettingsPatch = Settings.partial().strict();
export type SettingsPatch = z.infer<typeof SettingsPatch>;

/** The setting each field of a load comes from. */
const SETTING_OF_LOAD_FIELD: Record<LoadField, SettingKey> = { contextSize: 'contextSize', 'kv.window': 'window', 'kv.sinks': 'sinks', kvCacheType: 'kvCacheType' };

/**
 * Rules between settings; each returns a message for the field it blames, or null. They are the
 * load's rules (loadParamsProblems), checked on what a load with these settings would send; the
 * window and sinks must fit a set context even while compression is off.
 */
export function crossFieldProblems(settings: Settings): Array<{ key: SettingKey; message: string }> {
    const problems = loadParamsProblems({
        ...(settings.contextSize != null ? { contextSize: settings.contextSize } : {}),
        kv: kvOptionsOf(settings), kvCacheType: settings.kvCacheType, flashAttention: settings.flashAttention,
    }, { checkKvOff: true });
    return problems.map(({ field, message }) => ({ key: SETTING_OF_LOAD_FIELD[field], message }));
}

/** The KV options the settings ask for. */
export function kvOptionsOf(settings: Pick<Settings, 'kvMode' | 'kvBudget' | 'sinks' | 'window' | 'kvOffload'>): KvOptions {
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

/**
 * One-off changes to the saved settings for one load (model.load's `overrides`): a reload offered
 * for a document, say, with a larger context. Only settings a load reads; nothing is saved.
 */
export const LoadOverrides = SettingsPatch.pick({
    gpuLayers: true, contextSize: true, kvMode: true, kvBudget: true, sinks: true, window: true,
    kvOffload: true, kvCacheType: true, flashAttention: true, threads: true,
}).strict();
export type LoadOverrides = z.infer<typeof LoadOverrides>;

export const SettingsState = z.object({
    settings: Settings,
    /** Settings changed since the model was loaded, which a reload would apply. */
    pendingReload: z.array(z.string()),
});
export type SettingsState = z.infer<typeof SettingsState>;

/** What "Auto" compression does, one line for each case (the settings panel shows both). */
export const AUTO_COMPRESSION_HELP = {
    withProfile: 'A model with a head profile (measured here, or shipped with Headroom for popular models) runs compressed at the budget its profile was validated at.',
    withoutProfile: 'A model without one runs on the full cache until you profile its heads (Profile heads, offered when it loads).',
} as const;
