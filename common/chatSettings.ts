// A chat's own settings: its system prompt, and how replies are sampled (temperature, top-p,
// top-k, min-p, repeat penalty, the longest reply). Each sampling value a chat does not set is the
// model's own default: the GGUF's general.sampling.* keys where the file has them, else
// node-llama-cpp's. Pure zod, shared by the backend, the engine host and the window.
import { z } from 'zod';

export const MAX_SYSTEM_PROMPT = 64 * 1024;

export const Sampling = z.object({
    /** 0: always the likeliest token (greedy); higher is more varied. */
    temperature: z.number().min(0).max(5),
    topP: z.number().min(0).max(1),
    /** 0: every token is a candidate. */
    topK: z.number().int().min(0).max(1000),
    minP: z.number().min(0).max(1),
    /** 1: no penalty. */
    repeatPenalty: z.number().min(1).max(5),
    /** The longest reply in tokens; null: until the model ends it or the context is full. */
    maxTokens: z.number().int().min(1).max(1 << 16).nullable(),
}).strict();
export type Sampling = z.infer<typeof Sampling>;
export type SamplingKey = keyof Sampling;
export const SAMPLING_KEYS = Sampling.keyof().options;

/** What a chat sets; a value it leaves out is the model's default. */
export const SamplingOverrides = Sampling.partial().strict();
export type SamplingOverrides = z.infer<typeof SamplingOverrides>;

export const ChatSettings = z.object({
    systemPrompt: z.string().max(MAX_SYSTEM_PROMPT),
    sampling: SamplingOverrides,
}).strict();
export type ChatSettings = z.infer<typeof ChatSettings>;

export const ChatSettingsPatch = z.object({
    systemPrompt: z.string().max(MAX_SYSTEM_PROMPT).optional(),
    /** Replaces the chat's overrides: a key left out goes back to the model's default. */
    sampling: SamplingOverrides.optional(),
}).strict();
export type ChatSettingsPatch = z.infer<typeof ChatSettingsPatch>;

/** What the window shows: the chat's settings, the defaults they override, and where those come from. */
export const ChatSettingsView = ChatSettings.extend({
    defaults: Sampling,
    /** The model whose defaults these are (its file name); null while none is loaded (node-llama-cpp's defaults). */
    defaultsFrom: z.string().nullable(),
    /** The defaults that come from the model file itself (general.sampling.*); the rest are node-llama-cpp's. */
    fromModel: z.array(z.enum(SAMPLING_KEYS)),
});
export type ChatSettingsView = z.infer<typeof ChatSettingsView>;

/** node-llama-cpp's own defaults for a chat prompt (LlamaChatSession.prompt): greedy, top-k 40, top-p 0.95, no penalty. */
export const LIBRARY_SAMPLING: Sampling = { temperature: 0, topP: 0.95, topK: 40, minP: 0, repeatPenalty: 1, maxTokens: null };

/** The GGUF keys a model's recommended sampling is written under (llama.cpp reads the same). */
const GGUF_SAMPLING_KEYS: Partial<Record<SamplingKey, string>> = {
    temperature: 'temp', topP: 'top_p', topK: 'top_k', minP: 'min_p', repeatPenalty: 'penalty_repeat',
};

/** The sampling a model file recommends (its general.sampling.* metadata), where it says any, checked. */
export function samplingFromMetadata(general: Readonly<Record<string, unknown>> | undefined): Partial<Sampling> {
    const sampling = (general?.sampling ?? {}) as Record<string, unknown>;
    const found: Partial<Sampling> = {};
    for (const [key, name] of Object.entries(GGUF_SAMPLING_KEYS) as Array<[SamplingKey, string]>) {
        // f32 in the file: 0.6 is read as 0.6000000238, said as 0.6.
        const value = Number(Number(sampling[name]).toPrecision(6));
        if (sampling[name] == null || !Number.isFinite(value)) continue;
        const checked = Sampling.shape[key].safeParse(key === 'topK' ? Math.round(value) : value);
        if (checked.success) Object.assign(found, { [key]: checked.data });
    }
    return found;
}

/** The sampling a reply runs with: the chat's overrides over the model's defaults over node-llama-cpp's. */
export function effectiveSampling(model: Partial<Sampling>, chat: SamplingOverrides): Sampling {
    return { ...LIBRARY_SAMPLING, ...model, ...chat };
}

export const SAMPLING_LABELS: Record<SamplingKey, string> = {
    temperature: 'Temperature', topP: 'Top-p', topK: 'Top-k', minP: 'Min-p', repeatPenalty: 'Repeat penalty', maxTokens: 'Longest reply',
};

export const SAMPLING_HELP: Record<SamplingKey, string> = {
    temperature: '0 always picks the likeliest word; higher is more varied.',
    topP: 'Picks among the likeliest words that together make up this share.',
    topK: 'Picks among this many likeliest words (0: all).',
    minP: 'Leaves out words less likely than this share of the likeliest.',
    repeatPenalty: 'Makes words already said less likely (1: off).',
    maxTokens: 'Stops a reply after this many tokens (empty: when the model ends it).',
};
