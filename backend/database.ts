// Chats, messages, documents and settings in SQLite (node:sqlite, in Node ≥ 22.13 and in
// Electron ≥ 38). WAL keeps every committed write across a crash or kill; streamed text is
// written as it arrives, so a crash loses at most the token being generated.
//
// Durability, a trade-off made on purpose: synchronous=NORMAL, not FULL. In WAL mode NORMAL
// loses nothing when the app crashes or is killed; only an OS crash or power cut can roll back
// the last commits (never corrupt the file). FULL would fsync every streamed token: 3 ms per
// token measured on this project's CI disk, far more on a spinning one, and node:sqlite is
// synchronous, so the window would stall while a reply streams. Instead durable() syncs at the
// points that matter: once the question is stored and once the reply is finished, so what was
// typed and every finished reply survive a power cut too.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { ChatSummary, DocumentInfo, DocumentKind, MessageStatus, StoredMessage } from '../common/contract.ts';
import { HeadroomError } from '../common/errors.ts';
import type { KeyValueStore } from './settings.ts';

/** Each entry upgrades the schema by one version; never edit one that has shipped. */
const MIGRATIONS: string[] = [
    `CREATE TABLE chats (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        chat_id TEXT NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        text TEXT NOT NULL,
        status TEXT NOT NULL,
        error TEXT,
        created_at INTEGER NOT NULL,
        UNIQUE (chat_id, seq)
    );
    CREATE TABLE documents (
        id TEXT PRIMARY KEY,
        chat_id TEXT NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        pages INTEGER,
        text TEXT NOT NULL,
        warnings TEXT NOT NULL DEFAULT '[]',
        created_at INTEGER NOT NULL
    );
    CREATE INDEX documents_by_chat ON documents (chat_id, created_at);
    -- Token counts depend on the model's tokenizer, so they are kept per model file.
    CREATE TABLE document_tokens (
        document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        model_key TEXT NOT NULL,
        tokens INTEGER NOT NULL,
        PRIMARY KEY (document_id, model_key)
    );
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE kv_snapshots (
        chat_id TEXT PRIMARY KEY REFERENCES chats(id) ON DELETE CASCADE,
        file TEXT NOT NULL,
        model_key TEXT NOT NULL,
        prefix_hash TEXT NOT NULL,
        tokens INTEGER NOT NULL,
        prefill_ms INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    );`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

interface MessageRow { id: string; chat_id: string; role: 'user' | 'assistant'; text: string; status: MessageStatus; error: string | null; created_at: number }
interface ChatRow { id: string; title: string; created_at: number; updated_at: number }
interface DocumentRow { id: string; chat_id: string; name: string; kind: DocumentKind; size_bytes: number; pages: number | null; text: string; warnings: string; created_at: number; tokens: number | null }

/** The refusal of a document past a chat's limit. */
export function tooManyDocuments(name: string, maxDocuments: number): HeadroomError {
    return new HeadroomError('BAD_REQUEST', `${name} was not added: a chat holds at most ${maxDocuments} documents, and this one is full. Start a new chat for more, or remove documents you no longer need.`);
}

export interface KvSnapshotRecord { file: string; modelKey: string; prefixHash: string; tokens: number; prefillMs: number }

const toMessage = (row: MessageRow): StoredMessage => ({
    id: row.id, chatId: row.chat_id, role: row.role, text: row.text, status: row.status, error: row.error, createdAt: row.created_at,
});
const toChat = (row: ChatRow): ChatSummary => ({ id: row.id, title: row.title, createdAt: row.created_at, updatedAt: row.updated_at });
/** Said instead of a document's warnings when their stored form cannot be read. */
export const UNREADABLE_WARNINGS = 'The notes Headroom kept about reading this document are damaged in the database; the document itself is intact.';

/** A document's stored warnings: a JSON list of sentences, or, when the row was damaged, one saying so. */
function warningsOf(stored: string): string[] {
    try {
        const parsed: unknown = JSON.parse(stored);
        if (Array.isArray(parsed) && parsed.every((warning) => typeof warning === 'string')) return parsed;
    } catch {
        // not JSON: said below
    }
    return [UNREADABLE_WARNINGS];
}

const toDocument = (row: DocumentRow): DocumentInfo => ({
    id: row.id, chatId: row.chat_id, name: row.name, kind: row.kind, sizeBytes: row.size_bytes, pages: row.pages,
    chars: row.text.length, tokens: row.tokens, warnings: warningsOf(row.warnings), createdAt: row.created_at,
});

const chatGone = () => new HeadroomError('NOT_FOUND', 'That chat no longer exists.');

export class HeadroomDatabase {
    readonly file: string;
    #db: DatabaseSync;

    constructor(file: string) {
        this.file = file;
        if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
        this.#db = new DatabaseSync(file);
        this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;');
        this.#migrate();
        // A reply that was streaming when the app died is kept, marked as cut off.
        this.#db.prepare("UPDATE messages SET status = 'interrupted' WHERE status = 'streaming'").run();
    }

    #migrate(): void {
        const { user_version: version } = this.#db.prepare('PRAGMA user_version').get() as { user_version: number };
        if (version > SCHEMA_VERSION) {
            throw new Error(`This database (${this.file}) was written by a newer Headroom (schema ${version}); update Headroom to open it.`);
        }
        for (const [index, migration] of MIGRATIONS.entries()) {
            if (index < version) continue;
            this.#transaction(() => {
                this.#db.exec(migration);
                this.#db.exec(`PRAGMA user_version = ${index + 1}`);
            });
        }
    }

    #transaction<T>(work: () => T): T {
        this.#db.exec('BEGIN IMMEDIATE');
        try {
            const result = work();
            this.#db.exec('COMMIT');
            return result;
        } catch (error) {
            this.#db.exec('ROLLBACK');
            throw error;
        }
    }

    /** Makes every commit so far survive a power cut: the WAL is synced before a checkpoint. */
    durable(): void {
        this.#db.exec('PRAGMA wal_checkpoint(PASSIVE)');
    }

    integrityCheck(): string {
        return (this.#db.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check;
    }

    close(): void {
        this.#db.close();
    }

    /**
     * Copies the chats of another Headroom database of this schema (an earlier version's, kept
     * elsewhere) into this one, in one transaction: all or nothing. Its settings fill in only what
     * this one has not set; its KV snapshots' files are recorded as moved from `snapshots.from` to
     * `snapshots.to`. Returns how many chats were added.
     */
    absorb(file: string, snapshots: { from: string; to: string }): number {
        const chats = () => (this.#db.prepare('SELECT COUNT(*) AS count FROM chats').get() as { count: number }).count;
        this.#db.prepare('ATTACH DATABASE ? AS old').run(file);
        try {
            const { user_version: version } = this.#db.prepare('PRAGMA old.user_version').get() as { user_version: number };
            if (version !== SCHEMA_VERSION) throw new Error(`${file} has schema ${version}, not ${SCHEMA_VERSION}`);
            return this.#transaction(() => {
                const before = chats();
                for (const table of ['chats', 'messages', 'documents', 'document_tokens', 'settings']) {
                    this.#db.exec(`INSERT OR IGNORE INTO main.${table} SELECT * FROM old.${table}`);
                }
                this.#db.prepare(`INSERT OR IGNORE INTO main.kv_snapshots (chat_id, file, model_key, prefix_hash, tokens, prefill_ms, created_at)
                    SELECT chat_id, CASE WHEN substr(file, 1, length(:from)) = :from THEN :to || substr(file, length(:from) + 1) ELSE file END,
                        model_key, prefix_hash, tokens, prefill_ms, created_at FROM old.kv_snapshots`).run({ from: snapshots.from, to: snapshots.to });
                return chats() - before;
            });
        } finally {
            this.#db.exec('DETACH DATABASE old');
        }
    }

    // Chats

    listChats(): ChatSummary[] {
        return (this.#db.prepare('SELECT * FROM chats ORDER BY updated_at DESC, rowid DESC').all() as unknown as ChatRow[]).map(toChat);
    }

    getChat(chatId: string): ChatSummary {
        const row = this.#db.prepare('SELECT * FROM chats WHERE id = ?').get(chatId) as ChatRow | undefined;
        if (row == null) throw chatGone();
        return toChat(row);
    }

    createChat(title: string): ChatSummary {
        const now = Date.now();
        const id = randomUUID();
        this.#db.prepare('INSERT INTO chats (id, title, created_at, updated_at) VALUES (?, ?, ?, ?)').run(id, title, now, now);
        return { id, title, createdAt: now, updatedAt: now };
    }

    renameChat(chatId: string, title: string): ChatSummary {
        this.getChat(chatId);
        this.#db.prepare('UPDATE chats SET title = ?, updated_at = ? WHERE id = ?').run(title, Date.now(), chatId);
        return this.getChat(chatId);
    }

    deleteChat(chatId: string): void {
        this.#db.prepare('DELETE FROM chats WHERE id = ?').run(chatId);
    }

    #touch(chatId: string): void {
        this.#db.prepare('UPDATE chats SET updated_at = ? WHERE id = ?').run(Date.now(), chatId);
    }

    // Messages

    listMessages(chatId: string): StoredMessage[] {
        return (this.#db.prepare('SELECT * FROM messages WHERE chat_id = ? ORDER BY seq').all(chatId) as unknown as MessageRow[]).map(toMessage);
    }

    getMessage(messageId: string): StoredMessage {
        const row = this.#db.prepare('SELECT * FROM messages WHERE id = ?').get(messageId) as MessageRow | undefined;
        if (row == null) throw new HeadroomError('NOT_FOUND', 'That message no longer exists.');
        return toMessage(row);
    }

    addMessage(chatId: string, role: 'user' | 'assistant', text: string, status: MessageStatus): StoredMessage {
        return this.#transaction(() => {
            const { next } = this.#db.prepare('SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM messages WHERE chat_id = ?').get(chatId) as { next: number };
            const id = randomUUID();
            const now = Date.now();
            this.#db.prepare('INSERT INTO messages (id, chat_id, seq, role, text, status, error, created_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)')
                .run(id, chatId, next, role, text, status, now);
            this.#touch(chatId);
            return { id, chatId, role, text, status, error: null, createdAt: now };
        });
    }

    appendToMessage(messageId: string, text: string): void {
        this.#db.prepare('UPDATE messages SET text = text || ? WHERE id = ?').run(text, messageId);
    }

    finishMessage(messageId: string, patch: { text?: string; status: MessageStatus; error?: string | null }): StoredMessage {
        const current = this.getMessage(messageId);
        this.#db.prepare('UPDATE messages SET text = ?, status = ?, error = ? WHERE id = ?')
            .run(patch.text ?? current.text, patch.status, patch.error ?? null, messageId);
        return this.getMessage(messageId);
    }

    /** Remove a message and everything after it in its chat (edit-and-resend, regenerate). */
    truncateFrom(messageId: string): void {
        const message = this.#db.prepare('SELECT chat_id, seq FROM messages WHERE id = ?').get(messageId) as { chat_id: string; seq: number } | undefined;
        if (message == null) throw new HeadroomError('NOT_FOUND', 'That message no longer exists.');
        this.#db.prepare('DELETE FROM messages WHERE chat_id = ? AND seq >= ?').run(message.chat_id, message.seq);
    }

    /** Remove these messages and nothing else (a turn that could not start takes back only its own rows). */
    deleteMessages(messageIds: readonly string[]): void {
        const remove = this.#db.prepare('DELETE FROM messages WHERE id = ?');
        this.#transaction(() => {
            for (const id of messageIds) remove.run(id);
        });
    }

    // Documents

    listDocuments(chatId: string, modelKey: string | null): DocumentInfo[] {
        return (this.#db.prepare(`SELECT d.*, t.tokens FROM documents d
            LEFT JOIN document_tokens t ON t.document_id = d.id AND t.model_key = ?
            WHERE d.chat_id = ? ORDER BY d.created_at, d.rowid`).all(modelKey ?? '', chatId) as unknown as DocumentRow[]).map(toDocument);
    }

    documentTexts(chatId: string): Array<{ id: string; name: string; text: string }> {
        return this.#db.prepare('SELECT id, name, text FROM documents WHERE chat_id = ? ORDER BY created_at, rowid').all(chatId) as unknown as Array<{ id: string; name: string; text: string }>;
    }

    documentCount(chatId: string): number {
        return (this.#db.prepare('SELECT COUNT(*) AS count FROM documents WHERE chat_id = ?').get(chatId) as { count: number }).count;
    }

    /**
     * Stores a document in a chat that still exists and has room for it (`maxDocuments`): the chat
     * may have been deleted, or filled, while the document was read.
     */
    addDocument(chatId: string, doc: { name: string; kind: DocumentKind; sizeBytes: number; pages: number | null; text: string; warnings: string[] }, maxDocuments = Infinity): string {
        return this.#transaction(() => {
            if (this.#db.prepare('SELECT 1 FROM chats WHERE id = ?').get(chatId) == null) throw chatGone();
            if (this.documentCount(chatId) >= maxDocuments) throw tooManyDocuments(doc.name, maxDocuments);
            const id = randomUUID();
            this.#db.prepare('INSERT INTO documents (id, chat_id, name, kind, size_bytes, pages, text, warnings, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
                .run(id, chatId, doc.name, doc.kind, doc.sizeBytes, doc.pages, doc.text, JSON.stringify(doc.warnings), Date.now());
            this.#touch(chatId);
            return id;
        });
    }

    removeDocument(documentId: string): string {
        const row = this.#db.prepare('SELECT chat_id FROM documents WHERE id = ?').get(documentId) as { chat_id: string } | undefined;
        if (row == null) throw new HeadroomError('NOT_FOUND', 'That document no longer exists.');
        this.#db.prepare('DELETE FROM documents WHERE id = ?').run(documentId);
        return row.chat_id;
    }

    /** Remembers a document's token count; nothing when the document was removed meanwhile (the count was awaited). */
    setDocumentTokens(documentId: string, modelKey: string, tokens: number): void {
        this.#db.prepare('INSERT OR REPLACE INTO document_tokens (document_id, model_key, tokens) SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM documents WHERE id = ?)')
            .run(documentId, modelKey, tokens, documentId);
    }

    // KV snapshots

    getSnapshot(chatId: string): KvSnapshotRecord | null {
        const row = this.#db.prepare('SELECT file, model_key AS modelKey, prefix_hash AS prefixHash, tokens, prefill_ms AS prefillMs FROM kv_snapshots WHERE chat_id = ?').get(chatId);
        return (row as KvSnapshotRecord | undefined) ?? null;
    }

    /** Records a chat's snapshot; nothing when the chat was deleted while its reply was written. */
    setSnapshot(chatId: string, snapshot: KvSnapshotRecord): void {
        this.#db.prepare('INSERT OR REPLACE INTO kv_snapshots (chat_id, file, model_key, prefix_hash, tokens, prefill_ms, created_at) SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM chats WHERE id = ?)')
            .run(chatId, snapshot.file, snapshot.modelKey, snapshot.prefixHash, snapshot.tokens, snapshot.prefillMs, Date.now(), chatId);
    }

    // Settings: JSON values by key, for the settings service.

    readonly settings: KeyValueStore = {
        get: (key) => {
            const row = this.#db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined;
            if (row == null) return undefined;
            try {
                return JSON.parse(row.value) as unknown;
            } catch {
                return undefined; // unreadable: the service falls back to the default
            }
        },
        set: (key, value) => {
            this.#db.prepare('INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)').run(key, JSON.stringify(value));
        },
    };
}
