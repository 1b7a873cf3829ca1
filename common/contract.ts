// What crosses Headroom's process boundaries: the data both contracts speak of, the envelopes,
// the events, and the contract between the backend and the engine host (its requests and the
// events a host may send). The window's contract with the backend is common/uiContract.ts.
// Pure zod + types, no Node or DOM imports, so every side can load it.
import { z } from 'zod';
import { MAX_SYSTEM_PROMPT, Sampling } from './chatSettings.ts';
import { DeviceBytes } from './devices.ts';
import { RpcError } from './errors.ts';
import { EngineChoice, MAX_CONTEXT_TOKENS } from './loadOptions.ts';
import { ContextChoice, LoadParams } from './loadParams.ts';
import { KvMode, KvOptions, ProfileMethod, ProfileSummary, ProfileValidation } from './kv/policy.ts';
import { EvalRun } from './eval.ts';
import { NiahResult } from './niah.ts';
import { KvCompression, KvStats, KvUsage } from './kv/usage.ts';
import { DownloadState, FitVerdict, PublishedShape } from './models.ts';
import { FitRequest, FitResult, MemoryPlan, PlanRequest, Prediction } from './plan.ts';
import { LoadOverrides, Settings, SettingsState } from './settings.ts';

export const DocumentKind = z.enum(['pdf', 'docx', 'epub', 'html', 'markdown', 'text', 'code']);
export type DocumentKind = z.infer<typeof DocumentKind>;

export const MAX_TEXT = 8 * 1024 * 1024; // a message may hold a whole book

export const ChatMessage = z.object({
    role: z.enum(['user', 'assistant']),
    text: z.string().max(MAX_TEXT),
});
export type ChatMessage = z.infer<typeof ChatMessage>;

export const GpuBackend = z.enum(['cuda', 'vulkan', 'metal']);
export type GpuBackend = z.infer<typeof GpuBackend>;

/** The llama.cpp build the engine host runs, and what it computes on. */
export const EngineBuild = z.object({
    /** headwise: Headroom's patched llama.cpp (head-level KV compression); stock: node-llama-cpp's prebuilt binary. */
    kind: z.enum(['headwise', 'stock']),
    /** What the Engine setting asked for: the stock build runs also when it was asked for. */
    requested: EngineChoice,
    /** The backend llama.cpp computes on: a GPU backend that found a device, or the CPU. */
    backend: z.union([GpuBackend, z.literal('cpu')]),
    /** The GPU runtimes this machine's drivers offer (node-llama-cpp's detection), best first. */
    gpuRuntimes: z.array(GpuBackend),
    /** When the engine runs slower than this machine allows, or without compression: why, and what to do. */
    note: z.string().nullable(),
});
export type EngineBuild = z.infer<typeof EngineBuild>;

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
    /** The compression mode the model was loaded with. */
    kvMode: KvMode,
    /** The head profile the KV plan uses (or, with compression unavailable, would use); null when the model has none. */
    headProfile: ProfileSummary.nullable(),
    engine: EngineBuild,
    /** What a saved KV state depends on besides the model: cache type, flash attention, head plan. */
    cacheLayout: z.string().max(200).optional(),
    /** The file's modification time when it was loaded: with its path and size, which file this is. */
    modifiedMs: z.number().optional(),
});
export type ModelInfo = z.infer<typeof ModelInfo>;

export const EngineStatus = z.enum(['starting', 'idle', 'loading', 'ready', 'generating', 'crashed']);
export type EngineStatus = z.infer<typeof EngineStatus>;

/** What the backend sent the engine host for the loaded model, exactly, and what it built that from. */
export const LoadRecord = z.object({
    params: LoadParams,
    context: ContextChoice,
    /** The saved settings the parameters were built from; null when a caller gave the parameters itself. */
    settings: Settings.nullable(),
    /** One-off changes to those settings for this load. */
    overrides: LoadOverrides,
});
export type LoadRecord = z.infer<typeof LoadRecord>;

export const EngineState = z.object({
    status: EngineStatus,
    model: ModelInfo.nullable(),
    /** What the loaded model was loaded with (null while none is loaded). */
    load: LoadRecord.nullable(),
    error: RpcError.nullable(),
    pid: z.number().int().nullable(),
    restarts: z.number().int().nonnegative(),
});
export type EngineState = z.infer<typeof EngineState>;

export const Id = z.string().min(1).max(64).regex(/^[\w-]+$/);
const GenerationId = Id;
export const Empty = z.object({}).strict();

/** maxTokens: the reply reached the length it was asked to stop at; contextFull: the context had no room left. */
export const StopReason = z.enum(['eos', 'maxTokens', 'contextFull', 'aborted']);
export type StopReason = z.infer<typeof StopReason>;

// Chats as stored: the backend owns them, the UI shows them.
// contextFull: the reply ran until the context had no room left (no context shift: see engine.ts);
// replyLimit: it reached the chat's longest reply (its sampling settings).
export const MessageStatus = z.enum(['streaming', 'done', 'stopped', 'contextFull', 'replyLimit', 'error', 'interrupted']);
export type MessageStatus = z.infer<typeof MessageStatus>;

export const StoredMessage = z.object({
    id: Id,
    chatId: Id,
    role: z.enum(['user', 'assistant']),
    text: z.string(),
    status: MessageStatus,
    error: z.string().nullable(),
    createdAt: z.number(),
});
export type StoredMessage = z.infer<typeof StoredMessage>;

export const ChatSummary = z.object({ id: Id, title: z.string(), createdAt: z.number(), updatedAt: z.number() });
export type ChatSummary = z.infer<typeof ChatSummary>;

export const DocumentInfo = z.object({
    id: Id,
    chatId: Id,
    name: z.string(),
    kind: DocumentKind,
    sizeBytes: z.number().int().nonnegative(),
    pages: z.number().int().nullable(),
    chars: z.number().int().nonnegative(),
    /** With the loaded model's tokenizer; null while no model is loaded. */
    tokens: z.number().int().nullable(),
    warnings: z.array(z.string()),
    createdAt: z.number(),
});
export type DocumentInfo = z.infer<typeof DocumentInfo>;

/** How the context is spent: documents, conversation, and what is left for the reply. */
export const ContextBudget = z.object({
    contextSize: z.number().int(),
    documentTokens: z.number().int(),
    conversationTokens: z.number().int(),
    remaining: z.number().int(),
});
export type ContextBudget = z.infer<typeof ContextBudget>;

export const PrefillInfo = z.object({
    /** Tokens in the prompt the model read for this turn. */
    tokens: z.number().int().nonnegative(),
    /** Tokens it did not have to read again (already in the cache or restored). */
    reusedTokens: z.number().int().nonnegative(),
    ms: z.number().nonnegative(),
    snapshot: z.enum(['none', 'saved', 'restored']),
    /** For a restore: how long the original prefill took. */
    originalPrefillMs: z.number().nonnegative().nullable(),
});
export type PrefillInfo = z.infer<typeof PrefillInfo>;

export const ChatView = z.object({
    chat: ChatSummary,
    messages: z.array(StoredMessage),
    documents: z.array(DocumentInfo),
    budget: ContextBudget.nullable(),
    lastPrefill: PrefillInfo.nullable(),
});
export type ChatView = z.infer<typeof ChatView>;

/** The largest document Headroom reads; the window checks it before uploading anything. */
export const MAX_DOCUMENT_BYTES = 64 * 1024 * 1024;
export const MAX_DOCUMENT_BASE64 = Math.ceil((MAX_DOCUMENT_BYTES + 1) / 3) * 4 + 4;

/** The most documents one chat holds: documents.add refuses the one past it, so every turn can be sent. */
export const MAX_CHAT_DOCUMENTS = 256;

/** What the engine host is asked to generate: documents, history and the new prompt. */
export const GenerateParams = z.object({
    generationId: GenerationId,
    documents: z.array(z.object({ name: z.string(), text: z.string() })).max(MAX_CHAT_DOCUMENTS),
    history: z.array(ChatMessage).max(10_000),
    prompt: z.string().min(1).max(MAX_TEXT),
    maxTokens: z.number().int().min(1).max(1 << 16).optional(),
    /** The chat's own system prompt: said after the documents, so changing it leaves their cached state as it is. */
    systemPrompt: z.string().max(MAX_SYSTEM_PROMPT).optional(),
    /** How the reply is sampled (the chat's settings over the model's defaults; common/chatSettings.ts); absent: greedy. */
    sampling: Sampling.omit({ maxTokens: true }).optional(),
    /**
     * The documents' evaluated KV state on disk: restored from `file` when `restore` is set
     * (the caller vouches it was saved with this same model and settings), else saved there.
     */
    snapshot: z.object({ file: z.string().min(1).max(4096), restore: z.boolean() }).strict().optional(),
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

/** Score a model's KV heads (npm run profile's recipe) and store the profile by the file's sha256. */
export const ProfileParams = z.object({
    path: z.string().min(1).max(4096),
    /** Measure again even when a profile for this file is stored. */
    force: z.boolean().optional(),
    /** Fewer or shorter prompts profile faster and less reliably. */
    prompts: z.number().int().min(1).max(64).optional(),
    tokens: z.number().int().min(128).max(1 << 17).optional(),
    /** The context the user runs: plans are validated there (as far as this machine's memory allows). */
    contextSize: z.number().int().min(128).max(MAX_CONTEXT_TOKENS).optional(),
    validationPrompts: z.number().int().min(1).max(64).optional(),
}).strict();

export const ProfileResult = z.object({
    /** Where the profile is stored. */
    file: z.string(),
    reused: z.boolean(),
    method: ProfileMethod.optional(),
    /** How many of the best heads stay full, at every context length. */
    fullHeads: z.number().int().nonnegative(),
    /** Of how many heads. */
    totalHeads: z.number().int().positive(),
    /** What those heads cost at the context the profile was validated at, as a share of the full cache. */
    recommendedBudget: z.number().positive().max(1),
    /** The highest-scoring heads, best first. */
    topHeads: z.array(z.object({ layer: z.number().int().nonnegative(), head: z.number().int().nonnegative(), score: z.number() })).max(8),
    validation: ProfileValidation.nullable(),
}).strict();
export type ProfileResult = z.infer<typeof ProfileResult>;

/** What a profiling estimate is asked about: the loaded model, profiled as `kv.profile` would. */
export const ProfileEstimateParams = ProfileParams.pick({ path: true, prompts: true, tokens: true, contextSize: true, validationPrompts: true }).strict();

/** What profiling the loaded model would take here, before it starts. */
export const ProfileEstimate = z.object({
    seconds: z.number().nonnegative(),
    /** Tokens the profiler evaluates (scoring and validation). */
    tokens: z.number().int().nonnegative(),
    /** Prompt tokens a second, measured on the loaded model. */
    tokensPerSecond: z.number().positive(),
    /** The context plans would be validated at. */
    validationTokens: z.number().int().positive(),
}).strict();
export type ProfileEstimate = z.infer<typeof ProfileEstimate>;

export const ProfileStage = z.enum(['loading', 'scoring', 'validating']);
export type ProfileStage = z.infer<typeof ProfileStage>;

/** Test recall: a short needle-in-a-haystack on the loaded model, with the full cache and with its head plan. */
export const RecallParams = z.object({
    /** Context lengths in tokens, at most the loaded context; default a few up to it. */
    lengths: z.array(z.number().int().min(128).max(MAX_CONTEXT_TOKENS)).min(1).max(8).optional(),
    depths: z.array(z.number().min(0).max(1)).min(1).max(11).optional(),
    /** Follow-up chats per length (the eval's multi-query task: questions asked in turn about one document); 0: none. Default 1. */
    followUps: z.number().int().min(0).max(8).optional(),
}).strict();

export const RecallResult = z.object({
    full: NiahResult,
    /** With the loaded model's head plan; null when it runs the full cache. */
    compressed: NiahResult.nullable(),
    /** The follow-up questions on each cache (compressed null as above); null when none were asked. */
    followUps: z.object({ full: EvalRun, compressed: EvalRun.nullable() }).strict().nullable(),
}).strict();
export type RecallResult = z.infer<typeof RecallResult>;

/** Every event pushed to subscribers. */
export const events = {
    'engine.state': EngineState,
    // Sent once by a freshly started engine host, before it takes requests.
    'host.ready': z.object({ pid: z.number().int() }),
    'model.loadProgress': z.object({ path: z.string(), progress: z.number().min(0).max(1) }),
    // Streamed reply text; the generation id is the assistant message's id.
    'chat.chunk': z.object({ generationId: GenerationId, text: z.string().max(1 << 20) }),
    'memory.stats': MemoryStats,
    'settings.changed': SettingsState,
    'chat.prefill': z.object({ generationId: GenerationId, done: z.number().int().nonnegative(), total: z.number().int().nonnegative() }),
    'chat.message': StoredMessage,
    'chats.changed': z.object({ chatId: Id.nullable() }),
    'document.progress': z.object({ uploadId: Id, stage: z.enum(['reading', 'extracting', 'counting']), done: z.number(), total: z.number() }),
    // A download's progress, and its end (done, failed or cancelled).
    'models.download': DownloadState,
    // The models on disk may have changed (a download finished, the models folder moved).
    'models.changed': Empty,
    // Profiling's progress: tokens evaluated of about `total`, and the time left at the speed so far.
    'kv.profileProgress': z.object({
        path: z.string(), stage: ProfileStage, done: z.number().int().nonnegative(), total: z.number().int().positive(), etaSeconds: z.number().nonnegative().nullable(),
    }),
    // Test recall's progress: trials done of `total`, the last one's outcome.
    'kv.recallProgress': z.object({
        done: z.number().int().nonnegative(), total: z.number().int().positive(), cache: z.enum(['full', 'compressed']),
        /** A needle of the haystack grid, or a follow-up question. */
        task: z.enum(['niah', 'multiquery']),
        contextTokens: z.number().int().positive(), depth: z.number().min(0).max(1), correct: z.boolean(),
    }),
} as const;

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

/** An event as it crosses a boundary: its name picks the payload's schema. */
export type EventEnvelope<E extends EventName = EventName> = { [K in E]: { type: 'event'; name: K; payload: EventPayload<K> } }[E];

const eventEnvelopes = (Object.keys(events) as EventName[]).map((name) => z.object({ type: z.literal('event'), name: z.literal(name), payload: events[name] }));
export const EventEnvelope = z.discriminatedUnion('name', eventEnvelopes as [typeof eventEnvelopes[number], ...typeof eventEnvelopes]) as unknown as z.ZodType<EventEnvelope>;

export const InboundToClient = z.union([ResponseEnvelope, EventEnvelope]);

/** A boundary's requests: each method's params and result. */
export type RequestTable = Readonly<Record<string, { readonly params: z.ZodType; readonly result: z.ZodType }>>;

/**
 * One process boundary, as the side that serves it declares it: the requests it answers and the
 * events it may send. Every request and event crossing it is checked against these (common/rpc.ts).
 */
export interface Contract<R extends RequestTable = RequestTable, E extends EventName = EventName> {
    /** Who serves it, for messages ("Unknown method … for the engine host"). */
    readonly server: string;
    readonly requests: R;
    readonly events: readonly E[];
}

// The engine host's contract: what the backend (its supervisor and its long jobs) asks of an engine host.

/** Every request an engine host serves: its params and its result. */
export const hostRequests = {
    'model.load': { params: LoadParams, result: ModelInfo },
    'model.unload': { params: Empty, result: Empty },
    /** The model the host has loaded now: after a failed load, whether the previous one is still there. */
    'model.loaded': { params: Empty, result: z.object({ model: ModelInfo.nullable() }) },
    'model.countTokens': { params: z.object({ texts: z.array(z.string().max(MAX_TEXT * 8)).max(1024) }).strict(), result: z.object({ tokens: z.array(z.number().int()) }) },
    'generate.run': { params: GenerateParams, result: z.object({ text: z.string(), stopReason: StopReason, prefill: PrefillInfo }) },
    'generate.stop': { params: z.object({ generationId: GenerationId.optional() }).strict(), result: z.object({ stopped: z.boolean() }) },
    'engine.kvStats': { params: Empty, result: KvStats },
    'memory.stats': { params: Empty, result: MemoryStats },
    // Plans and fits count the loaded model's memory as free: a load unloads it first.
    'memory.plan': { params: PlanRequest, result: MemoryPlan },
    'memory.fit': { params: FitRequest, result: FitResult },
    // The catalog's verdicts, planned from published shapes.
    'memory.fitPublished': { params: z.object({ models: z.array(PublishedShape).max(64), kv: KvOptions }).strict(), result: z.array(FitVerdict) },
    // Answered by the chat engine, which has the model loaded: it measures how fast it reads a prompt.
    'kv.profileEstimate': { params: ProfileEstimateParams, result: ProfileEstimate },
    // Only in a host started for the job (backend/host/jobs.ts).
    'kv.profile': { params: ProfileParams, result: ProfileResult },
    // The recall test on the chat model's load parameters, in a host started for the job.
    'recall.run': { params: RecallParams.extend({ load: LoadParams }).strict(), result: RecallResult },
} as const satisfies RequestTable;

/** The events an engine host may send; the backend drops any other name it claims (chat.message, engine.state…). */
export const hostEvents = ['host.ready', 'model.loadProgress', 'chat.chunk', 'chat.prefill', 'memory.stats', 'kv.profileProgress', 'kv.recallProgress'] as const satisfies readonly EventName[];

export const hostContract: Contract<typeof hostRequests, HostEvent> = { server: 'the engine host', requests: hostRequests, events: hostEvents };

export type HostMethod = keyof typeof hostRequests;
export type HostEvent = (typeof hostEvents)[number];
/** An engine host request's params and result (the engine's own code knows no other contract). */
export type Params<M extends HostMethod> = z.infer<(typeof hostRequests)[M]['params']>;
export type Result<M extends HostMethod> = z.infer<(typeof hostRequests)[M]['result']>;
/** An event an engine host sent, as the backend receives it once validated. */
export type HostEventEnvelope = EventEnvelope<HostEvent>;

