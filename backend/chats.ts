// The backend's side of chats: it owns the conversation (SQLite), ingests documents, and
// tells the engine host what to generate each turn. Streamed text is written to the
// database as it arrives, so a crash or kill loses at most the token being generated.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import {
    MAX_CHAT_DOCUMENTS, type ChatMessage, type ContextBudget, type DocumentInfo, type EventEnvelope, type HostEventEnvelope, type MessageStatus, type ModelInfo,
    type PrefillInfo, type StopReason, type StoredMessage,
} from '../common/contract.ts';
import type { Sampling } from '../common/chatSettings.ts';
import { documentBlock } from '../common/documentPrompt.ts';
import { HeadroomError, noModelLoaded, toRpcError } from '../common/errors.ts';
import { eventEnvelope, type CancelSignal, type Handlers } from '../common/rpc.ts';
import type { UiParams, uiRequests, UiResult } from '../common/uiContract.ts';
import { describeRun } from './chatExport.ts';
import { tooManyDocuments, type HeadroomDatabase } from './database.ts';
import { extractInWorker, type SpawnExtractor } from './documents/extractInWorker.ts';
import { contextOffers } from './contextOffers.ts';
import type { EngineSupervisor } from './host/supervisor.ts';

export type ChatHandlers = Handlers<typeof uiRequests,
    'chats.list' | 'chats.create' | 'chats.rename' | 'chats.delete' | 'chats.open'
    | 'documents.add' | 'documents.remove' | 'chat.send' | 'chat.regenerate' | 'chat.edit' | 'chat.stop'
>;

/** Documents at least this long get their KV state saved to disk for instant re-open. */
export const SNAPSHOT_MIN_TOKENS = 512;
const NEW_CHAT_TITLE = 'New chat';

/** What a reply in a chat runs with besides its turns: the chat's system prompt, and its sampling over the model's defaults. */
export interface ReplySettings { systemPrompt: string; sampling: Sampling }

/**
 * What a KV snapshot and token counts depend on besides the documents: the model file (its path,
 * size and modification time: another file under the same name is another model), its context and
 * the cache's layout. The engine host checks a snapshot against the file's sha256 as well.
 */
export function modelKey(model: ModelInfo): string {
    return `${model.path}|${model.sizeBytes}|${model.modifiedMs ?? ''}|ctx${model.contextSize}|${model.cacheLayout ?? ''}`;
}

const fmt = (n: number) => n.toLocaleString('en-US');

/** Finished turns the model should see: a question with its reply (done, stopped or cut off). */
export function historyOf(messages: readonly StoredMessage[]): ChatMessage[] {
    const history: ChatMessage[] = [];
    for (let i = 0; i + 1 < messages.length; i++) {
        const [question, reply] = messages.slice(i, i + 2);
        if (question?.role !== 'user' || reply?.role !== 'assistant') continue;
        if (reply.status === 'error' || reply.status === 'streaming') continue;
        history.push({ role: 'user', text: question.text }, { role: 'assistant', text: reply.text });
        i++;
    }
    return history;
}

/** How a reply that ended without an error is stored. The engine sizes every reply to the
 * context it has left, so running out of tokens means the context is full. */
export function finishedStatus(stopReason: StopReason): MessageStatus {
    if (stopReason === 'aborted') return 'stopped';
    if (stopReason === 'maxTokens') return 'replyLimit';
    return stopReason === 'contextFull' ? 'contextFull' : 'done';
}

function titleFrom(prompt: string): string {
    const line = (prompt.trim().split('\n')[0] ?? '').replace(/\s+/g, ' ');
    return line.length > 60 ? `${line.slice(0, 57)}…` : line;
}

export class ChatService {
    #db: HeadroomDatabase;
    #supervisor: EngineSupervisor;
    #replySettings: (chatId: string) => Promise<ReplySettings | null>;
    #snapshotDir: string;
    #emit: (event: EventEnvelope) => void;
    #spawnExtractor: SpawnExtractor;
    /**
     * The chat whose reply is being written, and its assistant message once stored (null while
     * the turn is prepared). Reserved synchronously, before any await, so a second Send (another
     * tab, a double click) is refused before it touches anything; the engine writes one reply at a time.
     */
    #replying: { chatId: string; messageId: string | null } | null = null;
    #lastPrefill = new Map<string, PrefillInfo>();

    /**
     * `replySettings`: what a reply in a chat runs with, its system prompt and sampling (backend/chatTools.ts);
     * without it, no system prompt and greedy sampling.
     */
    constructor(
        db: HeadroomDatabase, supervisor: EngineSupervisor, snapshotDir: string, emit: (event: EventEnvelope) => void, spawnExtractor: SpawnExtractor,
        replySettings: (chatId: string) => Promise<ReplySettings | null> = async () => null,
    ) {
        this.#replySettings = replySettings;
        this.#db = db;
        this.#supervisor = supervisor;
        this.#snapshotDir = snapshotDir;
        this.#emit = emit;
        this.#spawnExtractor = spawnExtractor;
    }

    /** Engine events the service acts on (the supervisor forwards them here and to the UI, validated). */
    onEngineEvent(event: HostEventEnvelope): void {
        if (event.name !== 'chat.chunk') return;
        const { generationId, text } = event.payload;
        // Only the reply this service is writing: a chunk for any other message is dropped.
        if (generationId === this.#replying?.messageId) this.#db.appendToMessage(generationId, text);
    }

    #changed(chatId: string | null): void {
        this.#emit(eventEnvelope('chats.changed', { chatId }));
    }

    #model(): ModelInfo | null {
        return this.#supervisor.state.model;
    }

    /** The loaded model; during an engine restart (even one asked for a moment after the question), the one it loads again. */
    async #modelOnceRestarted(): Promise<ModelInfo | null> {
        for (;;) {
            await this.#supervisor.settled();
            const model = this.#model();
            if (model != null || !this.#supervisor.restarting) return model;
        }
    }

    /** Each document's tokens with the loaded model's tokenizer, counted once per model. */
    async #documents(chatId: string): Promise<DocumentInfo[]> {
        const model = this.#model();
        const key = model == null ? null : modelKey(model);
        let documents = this.#db.listDocuments(chatId, key);
        const missing = documents.filter((d) => d.tokens == null);
        if (key != null && missing.length > 0) {
            const texts = this.#db.documentTexts(chatId).filter((d) => missing.some((m) => m.id === d.id));
            const counts = await this.#supervisor.countTokens(texts.map(documentBlock)).catch(() => null);
            if (counts != null) {
                texts.forEach((d, i) => {
                    const tokens = counts[i];
                    if (tokens != null) this.#db.setDocumentTokens(d.id, key, tokens);
                });
                documents = this.#db.listDocuments(chatId, key);
            }
        }
        return documents;
    }

    async #budget(documents: DocumentInfo[], messages: StoredMessage[]): Promise<ContextBudget | null> {
        const model = this.#model();
        if (model == null || documents.some((d) => d.tokens == null)) return null;
        const history = historyOf(messages);
        const counts = await this.#supervisor.countTokens(history.map((m) => m.text)).catch(() => null);
        if (counts == null) return null;
        const documentTokens = documents.reduce((sum, d) => sum + (d.tokens ?? 0), 0);
        const conversationTokens = counts.reduce((a, b) => a + b, 0);
        return {
            contextSize: model.contextSize,
            documentTokens,
            conversationTokens,
            remaining: model.contextSize - documentTokens - conversationTokens,
        };
    }

    async open(chatId: string): Promise<UiResult<'chats.open'>> {
        const chat = this.#db.getChat(chatId);
        const messages = this.#db.listMessages(chatId);
        const documents = await this.#documents(chatId);
        return { chat, messages, documents, budget: await this.#budget(documents, messages), lastPrefill: this.#lastPrefill.get(chatId) ?? null };
    }

    /** `signal`: the client that sent the document went away; reading it stops and nothing is stored. */
    async addDocument({ chatId, uploadId, name, dataBase64 }: UiParams<'documents.add'>, signal?: CancelSignal): Promise<DocumentInfo> {
        this.#db.getChat(chatId);
        // A turn sends every document: past the limit no turn could be sent, so the one past it is refused here.
        if (this.#db.documentCount(chatId) >= MAX_CHAT_DOCUMENTS) throw tooManyDocuments(name, MAX_CHAT_DOCUMENTS);
        const progress = (stage: 'reading' | 'extracting' | 'counting', done: number, total: number) =>
            this.#emit(eventEnvelope('document.progress', { uploadId, stage, done, total }));
        progress('reading', 0, 1);
        const bytes = Buffer.from(dataBase64, 'base64');
        progress('extracting', 0, 1);
        const extracted = await extractInWorker(this.#spawnExtractor, name, bytes, { onProgress: (done, total) => progress('extracting', done, total), signal });
        const model = this.#model();
        let tokens: number | null = null;
        if (model != null) {
            progress('counting', 0, 1);
            tokens = (await this.#supervisor.countTokens([documentBlock({ name, text: extracted.text })]))?.[0] ?? null;
            progress('counting', 1, 1);
            if (tokens != null) await this.#checkFits(chatId, name, tokens, model);
        }
        // The chat may have been deleted, or filled, while the document was read: refused in words, never a database error.
        const id = this.#db.addDocument(chatId, { name, kind: extracted.kind, sizeBytes: bytes.length, pages: extracted.pages, text: extracted.text, warnings: extracted.warnings }, MAX_CHAT_DOCUMENTS);
        if (tokens != null && model != null) this.#db.setDocumentTokens(id, modelKey(model), tokens);
        this.#changed(chatId);
        const added = this.#db.listDocuments(chatId, model == null ? null : modelKey(model)).find((d) => d.id === id);
        if (added == null) throw new HeadroomError('NOT_FOUND', `${name} was removed while it was being added.`);
        return added;
    }

    /**
     * Refuse a document that cannot fit, saying how big it is and what fits, with what would help
     * decided by the planner: a reload with a larger context (an action, one click in the window),
     * or the change that would make one fit, or a smaller model.
     */
    async #checkFits(chatId: string, name: string, tokens: number, model: ModelInfo): Promise<void> {
        const key = modelKey(model);
        const others = this.#db.listDocuments(chatId, key).reduce((sum, d) => sum + (d.tokens ?? 0), 0);
        const reserve = Math.min(512, Math.floor(model.contextSize / 8));
        const fits = model.contextSize - others - reserve;
        if (tokens <= fits) return;
        // What the documents need with the reply's room at the larger context (an eighth of it, at most 512).
        const needed = others + tokens + 512;
        const besides = others > 0 ? ` beside the other documents (${fmt(others)} tokens)` : '';
        const said = `${name} has ${fmt(tokens)} tokens, but only ${fmt(Math.max(0, fits))} fit${besides} in the ${fmt(model.contextSize)}-token context with room for a reply.`;
        const offers = await contextOffers(this.#supervisor, needed).catch((error: unknown) => {
            console.error('[chats] planning a larger context failed:', error);
            return null;
        });
        if (offers == null) {
            throw new HeadroomError('CONTEXT_OVERFLOW', `${said} Load the model with a context size of at least ${fmt(needed)} tokens, or turn on KV compression so a larger context fits in memory.`);
        }
        throw new HeadroomError('CONTEXT_OVERFLOW', `${said} ${offers.advice}`, undefined, offers.actions);
    }

    removeDocument(documentId: string): void {
        const chatId = this.#db.removeDocument(documentId);
        this.#changed(chatId);
    }

    async send(chatId: string, prompt: string): Promise<StoredMessage> {
        return this.#reserved(chatId, () => this.#ask(chatId, prompt));
    }

    async regenerate(chatId: string): Promise<StoredMessage> {
        return this.#reserved(chatId, async () => {
            const messages = this.#db.listMessages(chatId);
            const last = messages.at(-1);
            const question = last?.role === 'assistant' ? messages.at(-2) : last;
            if (question == null || question.role !== 'user') throw new HeadroomError('NOT_FOUND', 'There is no question to answer again in this chat.');
            if (last != null && last !== question) this.#db.truncateFrom(last.id);
            this.#changed(chatId);
            return this.#reply(chatId, question, false);
        });
    }

    async edit(messageId: string, text: string): Promise<StoredMessage> {
        const message = this.#db.getMessage(messageId);
        if (message.role !== 'user') throw new HeadroomError('BAD_REQUEST', 'Only your own messages can be edited.');
        return this.#reserved(message.chatId, async () => {
            this.#db.truncateFrom(messageId);
            this.#changed(message.chatId);
            return this.#ask(message.chatId, text);
        });
    }

    /** A new question at the end of the chat, and its reply. */
    async #ask(chatId: string, prompt: string): Promise<StoredMessage> {
        const chat = this.#db.getChat(chatId);
        if (chat.title === NEW_CHAT_TITLE && this.#db.listMessages(chatId).length === 0) this.#db.renameChat(chatId, titleFrom(prompt));
        const question = this.#db.addMessage(chatId, 'user', prompt, 'done');
        this.#db.durable();
        this.#emit(eventEnvelope('chat.message', question));
        return this.#reply(chatId, question, true);
    }

    /** Runs a turn with the reply slot held, refusing at once (before any await) when it is taken. */
    async #reserved(chatId: string, turn: () => Promise<StoredMessage>): Promise<StoredMessage> {
        if (this.#replying != null) {
            throw new HeadroomError('BUSY', this.#replying.chatId === chatId
                ? 'A reply is already being written in this chat; stop it first.'
                : 'A reply is being written in another chat; wait for it or stop it, then send again.');
        }
        const refusal = this.#supervisor.generationRefusal();
        if (refusal != null) throw refusal;
        const slot: { chatId: string; messageId: string | null } = { chatId, messageId: null };
        this.#replying = slot;
        try {
            return await turn();
        } finally {
            if (this.#replying === slot) this.#replying = null;
        }
    }

    async stop(chatId?: string): Promise<{ stopped: boolean }> {
        const active = this.#replying;
        if (active?.messageId == null || (chatId != null && active.chatId !== chatId)) return { stopped: false };
        return this.#supervisor.stopGeneration({ generationId: active.messageId });
    }

    async deleteChat(chatId: string): Promise<void> {
        if (this.#replying?.chatId === chatId) await this.stop(chatId);
        this.#db.deleteChat(chatId);
        this.#lastPrefill.delete(chatId);
        // The snapshot and its header are Headroom's own files (engine/snapshot.ts).
        await Promise.all([rm(this.#snapshotFile(chatId), { force: true }), rm(`${this.#snapshotFile(chatId)}.header`, { force: true })]).catch(() => {});
        this.#changed(null);
    }

    #snapshotFile(chatId: string): string {
        return path.join(this.#snapshotDir, `${chatId}.kvstate`);
    }

    /** Generate the answer to `question` (the chat's last message) and store it as it streams. */
    async #reply(chatId: string, question: StoredMessage, newQuestion: boolean): Promise<StoredMessage> {
        const model = await this.#modelOnceRestarted();
        if (model == null) throw noModelLoaded();
        const all = this.#db.listMessages(chatId);
        const history = historyOf(all.slice(0, all.findIndex((m) => m.id === question.id)));
        const documents = this.#db.documentTexts(chatId);
        const documentInfos = await this.#documents(chatId);
        const documentTokens = documentInfos.reduce((sum, d) => sum + (d.tokens ?? 0), 0);
        // The documents' KV state is worth keeping on disk only when reading them takes a while.
        const prefixHash = createHash('sha256').update(JSON.stringify(documents.map((d) => [d.name, d.text]))).digest('hex');
        const saved = this.#db.getSnapshot(chatId);
        const file = this.#snapshotFile(chatId);
        const reusable = saved != null && saved.modelKey === modelKey(model) && saved.prefixHash === prefixHash && existsSync(saved.file);
        const snapshot = documents.length === 0 || documentTokens < SNAPSHOT_MIN_TOKENS ? undefined : { file, restore: reusable };

        const own = await this.#replySettings(chatId);
        const answer = this.#db.addMessage(chatId, 'assistant', '', 'streaming');
        if (this.#replying?.chatId === chatId) this.#replying.messageId = answer.id;
        this.#emit(eventEnvelope('chat.message', answer));
        try {
            const result = await this.#supervisor.generate({
                generationId: answer.id,
                documents: documents.map(({ name, text }) => ({ name, text })),
                history,
                prompt: question.text,
                snapshot,
                ...(own == null ? {} : {
                    ...(own.systemPrompt.trim() !== '' ? { systemPrompt: own.systemPrompt } : {}),
                    ...(own.sampling.maxTokens != null ? { maxTokens: own.sampling.maxTokens } : {}),
                    sampling: { temperature: own.sampling.temperature, topP: own.sampling.topP, topK: own.sampling.topK, minP: own.sampling.minP, repeatPenalty: own.sampling.repeatPenalty },
                }),
            });
            const prefill: PrefillInfo = { ...result.prefill, originalPrefillMs: result.prefill.snapshot === 'restored' ? saved?.prefillMs ?? null : null };
            this.#lastPrefill.set(chatId, prefill);
            if (prefill.snapshot === 'saved') {
                this.#db.setSnapshot(chatId, { file, modelKey: modelKey(model), prefixHash, tokens: documentTokens, prefillMs: Math.round(prefill.ms) });
            }
            const done = this.#db.finishMessage(answer.id, { text: result.text, status: finishedStatus(result.stopReason) });
            // What it ran with, for the export: the model as loaded now, and the load it was sent.
            this.#db.setRanWith(answer.id, describeRun(model, this.#supervisor.state.load));
            this.#db.durable();
            this.#emit(eventEnvelope('chat.message', done));
            return done;
        } catch (error) {
            const rpcError = toRpcError(error);
            // A turn that could not start (too long, engine busy) leaves the chat as it was: only
            // the rows this turn added go, whatever else the chat holds by now.
            if (['CONTEXT_OVERFLOW', 'BUSY', 'NO_MODEL'].includes(rpcError.code)) {
                this.#db.deleteMessages(newQuestion ? [question.id, answer.id] : [answer.id]);
                this.#changed(chatId);
                throw error;
            }
            const failed = this.#db.finishMessage(answer.id, { status: 'error', error: rpcError.message });
            this.#emit(eventEnvelope('chat.message', failed));
            return failed;
        }
    }

    handlers(): ChatHandlers {
        return {
            'chats.list': async () => this.#db.listChats(),
            'chats.create': async ({ title }) => {
                const chat = this.#db.createChat(title ?? NEW_CHAT_TITLE);
                this.#changed(chat.id);
                return chat;
            },
            'chats.rename': async ({ chatId, title }) => {
                const chat = this.#db.renameChat(chatId, title);
                this.#changed(chatId);
                return chat;
            },
            'chats.delete': async ({ chatId }) => {
                await this.deleteChat(chatId);
                return {};
            },
            'chats.open': ({ chatId }) => this.open(chatId),
            'documents.add': (params, context) => this.addDocument(params, context?.signal),
            'documents.remove': async ({ documentId }) => {
                this.removeDocument(documentId);
                return {};
            },
            'chat.send': ({ chatId, prompt }) => this.send(chatId, prompt),
            'chat.regenerate': ({ chatId }) => this.regenerate(chatId),
            'chat.edit': ({ messageId, text }) => this.edit(messageId, text),
            'chat.stop': ({ chatId }) => this.stop(chatId),
        };
    }
}
