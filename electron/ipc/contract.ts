// The one IPC contract between the renderer, the main process (or web server) and
// the engine host. Pure zod + types, no Node or DOM imports, so every side can load it.
import { z } from 'zod';
import { HeadPolicy, KvOptions, KvPlacement } from '../engine/kv/policy.ts';
import { KvUsage } from '../memory/kvUsage.ts';
import { DeviceBytes, FitRequest, FitResult, MemoryPlan, PlanRequest, Prediction } from '../memory/plan.ts';
import { SettingsState } from '../settings/schema.ts';

export const ErrorCode = z.enum([
    'BAD_REQUEST',
    'UNKNOWN_METHOD',
    'NO_MODEL',
    'BUSY',
    'MODEL_LOAD_FAILED',
    'GENERATION_FAILED',
    'ENGINE_CRASHED',
    'ENGINE_OUT_OF_MEMORY',
    'ENGINE_UNAVAILABLE',
    'NOT_AVAILABLE',
    'NOT_FOUND',
    'DOCUMENT_UNREADABLE',
    'UNSUPPORTED_DOCUMENT',
    'DOCUMENT_TOO_LARGE',
    'CONTEXT_OVERFLOW',
    'INVALID_SETTINGS',
    'INTERNAL',
]);

export const DocumentKind = z.enum(['pdf', 'docx', 'epub', 'html', 'markdown', 'text', 'code']);
export type DocumentKind = z.infer<typeof DocumentKind>;
export type ErrorCode = z.infer<typeof ErrorCode>;

export const RpcError = z.object({
    code: ErrorCode,
    message: z.string(),
});
export type RpcError = z.infer<typeof RpcError>;

const MAX_TEXT = 8 * 1024 * 1024; // a message may hold a whole book

export const ChatMessage = z.object({
    role: z.enum(['user', 'assistant']),
    text: z.string().max(MAX_TEXT),
});
export type ChatMessage = z.infer<typeof ChatMessage>;

/** Whether head-level KV compression can run for the loaded model, and whether it does. */
export const KvCompression = z.object({
    /** This llama.cpp build has the head-level cache and the model's architecture supports it. */
    available: z.boolean(),
    active: z.boolean(),
    /** Why it is unavailable or off, in plain words; null when active. */
    reason: z.string().nullable(),
});
export type KvCompression = z.infer<typeof KvCompression>;

export const ModelInfo = z.object({
    path: z.string(),
    name: z.string(),
    sizeBytes: z.number().nonnegative(),
    architecture: z.string(),
    layers: z.number().int().nonnegative(),
    contextSize: z.number().int().positive(),
    trainContextSize: z.number().int().nonnegative(),
    // 'completion' when the model has no chat template: the reply continues the text.
    chatMode: z.enum(['chat', 'completion']),
    chatWrapper: z.string(),
    gpu: z.string(), // 'cpu' | 'cuda' | 'vulkan' | 'metal'
    threads: z.number().int().positive(),
    kv: KvCompression,
});
export type ModelInfo = z.infer<typeof ModelInfo>;

export const EngineStatus = z.enum(['starting', 'idle', 'loading', 'ready', 'generating', 'crashed']);
export type EngineStatus = z.infer<typeof EngineStatus>;

export const EngineState = z.object({
    status: EngineStatus,
    model: ModelInfo.nullable(),
    error: RpcError.nullable(),
    pid: z.number().int().nullable(),
    restarts: z.number().int().nonnegative(),
});
export type EngineState = z.infer<typeof EngineState>;

const GenerationId = z.string().min(1).max(64).regex(/^[\w-]+$/);
const Empty = z.object({}).strict();

export const LoadModelParams = z.object({
    path: z.string().min(1).max(4096),
    contextSize: z.number().int().min(64).max(1 << 20).optional(),
    threads: z.number().int().min(1).max(256).optional(),
    /** Head-level KV compression; omitted or mode 'off' means the stock cache. */
    kv: KvOptions.optional(),
    gpuLayers: z.union([z.literal('auto'), z.number().int().min(0).max(1024)]).optional(),
    flashAttention: z.enum(['auto', 'on', 'off']).optional(),
    kvCacheType: z.enum(['f16', 'q8_0']).optional(),
}).strict();

const Bytes = z.number().int().nonnegative();

/** What the KV cache holds and where: the plan's formula next to what llama.cpp allocated. */
export const KvStats = z.object({
    compression: KvCompression,
    mode: z.enum(['off', 'auto', 'budget']),
    /** Fraction of the stock cache's bytes the plan spends (1 for the stock cache). */
    budget: z.number().positive(),
    /** Where the head scores came from: a HeadProfile's source and path, or null (fallback order: later layers first). */
    profile: z.object({ source: z.string(), path: z.string() }).nullable(),
    sinks: z.number().int().nonnegative(),
    window: z.number().int().positive(),
    fullPlacement: KvPlacement,
    contextCells: z.number().int().positive(),
    streamingCells: z.number().int().nonnegative(),
    /** Tokens in the context now, and how many of them a full and a streaming head hold. */
    tokens: z.object({ context: z.number().int().nonnegative(), full: z.number().int().nonnegative(), streaming: z.number().int().nonnegative() }),
    /** policy[layer][kvHead]; every head 'full' for the stock cache. */
    policy: z.array(z.array(HeadPolicy)),
    /** kvBytes() of policy.ts for this plan. */
    planned: z.object({ gpu: Bytes, cpu: Bytes, full: Bytes, streaming: Bytes, perHead: z.array(z.array(Bytes)) }),
    /** The buffers llama.cpp reported allocating (empty when the build does not report them). */
    allocated: z.object({
        gpu: Bytes,
        cpu: Bytes,
        buffers: z.array(z.object({ kind: z.enum(['full', 'streaming', 'stock']), bufferType: z.string(), device: z.enum(['gpu', 'cpu']), bytes: Bytes, cells: z.number().int().nonnegative() })),
    }),
});
export type KvStats = z.infer<typeof KvStats>;

export const SendParams = z.object({
    generationId: GenerationId,
    history: z.array(ChatMessage).max(10_000),
    prompt: z.string().min(1).max(MAX_TEXT),
    maxTokens: z.number().int().min(1).max(1 << 16).optional(),
}).strict();

/** Live memory, pushed by the engine host at least twice a second while it generates. */
export const MemoryStats = z.object({
    at: z.number(),
    generating: z.boolean(),
    gpu: z.discriminatedUnion('available', [
        z.object({ available: z.literal(false), reason: z.string() }),
        z.object({ available: z.literal(true), kind: z.string(), totalBytes: z.number().nonnegative(), usedBytes: z.number().nonnegative() }),
    ]),
    /** Resident memory of the engine host process (model, caches and buffers live there). */
    processRamBytes: z.number().nonnegative(),
    kv: KvUsage.nullable(),
    context: z.object({ usedTokens: z.number().int().nonnegative(), capacityTokens: z.number().int().positive() }).nullable(),
    /** Tokens per second of the current (or last) reply; null before the first token. */
    tokensPerSecond: z.number().nonnegative().nullable(),
    generatedTokens: z.number().int().nonnegative(),
    /** What llama.cpp reported allocating when the model was loaded, next to what was predicted. */
    loaded: z.object({
        actual: z.object({ kv: DeviceBytes, weights: DeviceBytes, compute: DeviceBytes }),
        predicted: Prediction.nullable(),
    }).nullable(),
});
export type MemoryStats = z.infer<typeof MemoryStats>;

export const StopReason = z.enum(['eos', 'maxTokens', 'aborted']);

/** Every request: its params and its result. */
export const requests = {
    'engine.getState': { params: Empty, result: EngineState },
    'engine.restart': { params: Empty, result: EngineState },
    'engine.kvStats': { params: Empty, result: KvStats },
    'model.load': { params: LoadModelParams, result: ModelInfo },
    'model.unload': { params: Empty, result: Empty },
    'model.pickFile': { params: Empty, result: z.object({ path: z.string().nullable() }) },
    'chat.send': { params: SendParams, result: z.object({ text: z.string(), stopReason: StopReason }) },
    'chat.stop': { params: z.object({ generationId: GenerationId.optional() }).strict(), result: z.object({ stopped: z.boolean() }) },
    'memory.stats': { params: Empty, result: MemoryStats },
    'memory.plan': { params: PlanRequest, result: MemoryPlan },
    'memory.fit': { params: FitRequest, result: FitResult },
    'settings.get': { params: Empty, result: SettingsState },
    // Checked field by field by the settings service, which words its refusals for people.
    'settings.update': { params: z.record(z.string(), z.unknown()), result: SettingsState },
} as const;

/** Every event pushed to subscribers. */
export const events = {
    'engine.state': EngineState,
    // Sent once by a freshly started engine host, before it takes requests.
    'host.ready': z.object({ pid: z.number().int() }),
    'model.loadProgress': z.object({ path: z.string(), progress: z.number().min(0).max(1) }),
    'chat.chunk': z.object({ generationId: GenerationId, text: z.string() }),
    'memory.stats': MemoryStats,
    'settings.changed': SettingsState,
} as const;

export type Method = keyof typeof requests;
export type Params<M extends Method> = z.infer<(typeof requests)[M]['params']>;
export type Result<M extends Method> = z.infer<(typeof requests)[M]['result']>;
export type EventName = keyof typeof events;
export type EventPayload<E extends EventName> = z.infer<(typeof events)[E]>;

// Envelopes: what actually crosses a process boundary.
export const RequestEnvelope = z.object({
    type: z.literal('request'),
    id: z.number().int().nonnegative(),
    method: z.string(),
    params: z.unknown(),
});
export type RequestEnvelope = z.infer<typeof RequestEnvelope>;

export const ResponseEnvelope = z.discriminatedUnion('ok', [
    z.object({ type: z.literal('response'), id: z.number().int(), ok: z.literal(true), result: z.unknown() }),
    z.object({ type: z.literal('response'), id: z.number().int(), ok: z.literal(false), error: RpcError }),
]);
export type ResponseEnvelope = z.infer<typeof ResponseEnvelope>;

export const EventEnvelope = z.object({
    type: z.literal('event'),
    name: z.string(),
    payload: z.unknown(),
});
export type EventEnvelope = z.infer<typeof EventEnvelope>;

export const InboundToClient = z.union([ResponseEnvelope, EventEnvelope]);

export function isMethod(name: string): name is Method {
    return Object.hasOwn(requests, name);
}

export function isEventName(name: string): name is EventName {
    return Object.hasOwn(events, name);
}
