// The window's contract with the backend (the Electron main process or the web server): every
// request the backend serves and the events it may push to a window. The engine host's contract
// is in common/contract.ts; nothing here is answered by a host directly.
import { z } from 'zod';
import {
    ChatSummary, ChatView, type Contract, DocumentInfo, Empty, EngineState, type EventEnvelope, type EventName, Id, MAX_DOCUMENT_BASE64, MAX_DOCUMENT_BYTES,
    MAX_TEXT, ModelInfo, ProfileEstimate, ProfileEstimateParams, ProfileParams, ProfileResult, RecallParams, RecallResult, type RequestTable, StoredMessage, MemoryStats,
} from './contract.ts';
import { ChatSettingsPatch, ChatSettingsView } from './chatSettings.ts';
import { ChatExportFile, MAX_SEARCH, SearchHit } from './chatSearch.ts';
import { KvStats } from './kv/usage.ts';
import { DATA_KINDS, DataLocations } from './paths.ts';
import { CatalogView, DownloadRequest, DownloadState, LocalModels } from './models.ts';
import { FitGoal, FitResult, MemoryPlan } from './plan.ts';
import { LoadOverrides, SettingsState } from './settings.ts';

/**
 * A model to load, plan or fit: the backend builds the load from the saved settings, with these
 * one-off changes for this request only (nothing is saved).
 */
export const ModelRequest = z.object({
    path: z.string().min(1).max(4096),
    overrides: LoadOverrides.optional(),
}).strict();
export type ModelRequest = z.infer<typeof ModelRequest>;

/** Every request the backend serves a window: its params and its result. */
export const uiRequests = {
    // Engine and model
    'engine.getState': { params: Empty, result: EngineState },
    'engine.restart': { params: Empty, result: EngineState },
    'engine.kvStats': { params: Empty, result: KvStats },
    // The backend builds what the engine host is sent (engine.state's `load` says what that was).
    'model.load': { params: ModelRequest, result: ModelInfo },
    'model.unload': { params: Empty, result: Empty },
    'model.pickFile': { params: Empty, result: z.object({ path: z.string().nullable() }) },
    // Chats and documents
    'chats.list': { params: Empty, result: z.array(ChatSummary) },
    'chats.create': { params: z.object({ title: z.string().min(1).max(200).optional() }).strict(), result: ChatSummary },
    'chats.rename': { params: z.object({ chatId: Id, title: z.string().trim().min(1).max(200) }).strict(), result: ChatSummary },
    'chats.delete': { params: z.object({ chatId: Id }).strict(), result: Empty },
    'chats.open': { params: z.object({ chatId: Id }).strict(), result: ChatView },
    // A chat's system prompt and sampling, over the loaded model's defaults
    'chats.settings': { params: z.object({ chatId: Id }).strict(), result: ChatSettingsView },
    'chats.updateSettings': { params: ChatSettingsPatch.extend({ chatId: Id }).strict(), result: ChatSettingsView },
    // Titles and messages holding every word (SQLite FTS5)
    'chats.search': { params: z.object({ query: z.string().max(MAX_SEARCH) }).strict(), result: z.array(SearchHit) },
    // The chat as Markdown, with its documents' names and the model and KV settings its replies ran with
    'chats.export': { params: z.object({ chatId: Id }).strict(), result: ChatExportFile },
    'documents.add': {
        params: z.object({
            chatId: Id,
            uploadId: Id,
            name: z.string().min(1).max(1024),
            dataBase64: z.string().max(MAX_DOCUMENT_BASE64, { error: `dataBase64 holds more than ${MAX_DOCUMENT_BYTES / 1024 / 1024} MB: Headroom reads documents up to ${MAX_DOCUMENT_BYTES / 1024 / 1024} MB` }),
        }).strict(),
        result: DocumentInfo,
    },
    'documents.remove': { params: z.object({ documentId: Id }).strict(), result: Empty },
    'chat.send': { params: z.object({ chatId: Id, prompt: z.string().min(1).max(MAX_TEXT) }).strict(), result: StoredMessage },
    'chat.regenerate': { params: z.object({ chatId: Id }).strict(), result: StoredMessage },
    'chat.edit': { params: z.object({ messageId: Id, text: z.string().min(1).max(MAX_TEXT) }).strict(), result: StoredMessage },
    'chat.stop': { params: z.object({ chatId: Id.optional() }).strict(), result: z.object({ stopped: z.boolean() }) },
    // Memory: live, and planned for a model as a load of it would run (the saved settings, the automatic context)
    'memory.stats': { params: Empty, result: MemoryStats },
    'memory.plan': { params: ModelRequest, result: MemoryPlan },
    'memory.fit': { params: ModelRequest.extend({ goal: FitGoal }).strict(), result: FitResult },
    // Where each kind of user data lives; the desktop app opens its folder (web mode: the path is shown)
    'app.dataLocations': { params: Empty, result: DataLocations },
    'app.openFolder': { params: z.object({ kind: z.enum(DATA_KINDS) }).strict(), result: Empty },
    // Settings: checked field by field by the settings service, which words its refusals for people.
    'settings.get': { params: Empty, result: SettingsState },
    'settings.update': { params: z.record(z.string(), z.unknown()), result: SettingsState },
    // Models on disk, the catalog and downloads
    'models.list': { params: Empty, result: LocalModels },
    'models.catalog': { params: Empty, result: CatalogView },
    'models.download': { params: DownloadRequest, result: DownloadState },
    'models.cancelDownload': { params: z.object({ id: Id }).strict(), result: z.object({ cancelled: z.boolean() }) },
    'models.downloads': { params: Empty, result: z.array(DownloadState) },
    // Head profiling and test recall, each in an engine host of its own (one job at a time)
    'kv.profile': { params: ProfileParams, result: ProfileResult },
    // Answered by the chat engine, which has the model loaded.
    'kv.profileEstimate': { params: ProfileEstimateParams, result: ProfileEstimate },
    // The loaded model, loaded as it is now.
    'kv.testRecall': { params: RecallParams, result: RecallResult },
    // Stops the running profile or recall test (its host is ended).
    'kv.cancel': { params: Empty, result: z.object({ cancelled: z.boolean() }) },
} as const satisfies RequestTable;

/** The events the backend pushes to a window (never host.ready, an engine host's own). */
export const uiEvents = [
    'engine.state', 'model.loadProgress', 'chat.chunk', 'chat.prefill', 'chat.message', 'chats.changed', 'document.progress', 'memory.stats',
    'settings.changed', 'models.download', 'models.changed', 'kv.profileProgress', 'kv.recallProgress',
] as const satisfies readonly EventName[];

export type UiEvent = (typeof uiEvents)[number];
export const uiContract: Contract<typeof uiRequests, UiEvent> = { server: 'the backend', requests: uiRequests, events: uiEvents };

export type UiMethod = keyof typeof uiRequests;
export type UiParams<M extends UiMethod> = z.infer<(typeof uiRequests)[M]['params']>;
export type UiResult<M extends UiMethod> = z.infer<(typeof uiRequests)[M]['result']>;
/** An event as the backend pushes it to a window. */
export type UiEventEnvelope = EventEnvelope<UiEvent>;
