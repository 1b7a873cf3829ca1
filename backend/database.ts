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
import { SamplingOverrides, type ChatSettings } from '../common/chatSettings.ts';
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
    // A chat's own system prompt and sampling (common/chatSettings.ts: JSON of what it overrides),
    // and what each reply ran with (model and KV settings, in words), for exports.
    `ALTER TABLE chats ADD COLUMN system_prompt TEXT NOT NULL DEFAULT '';
    ALTER TABLE chats ADD COLUMN sampling TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE messages ADD COLUMN ran_with TEXT;`,
];

/**
 * Full-text search over chat titles and finished messages (SQLite FTS5), kept by triggers. Not a
 * migration: made where this SQLite has FTS5 (Node's and Electron's do), and search falls back to
 * a plain scan where it has not. A message is indexed once it is no longer streaming, so a reply
 * is indexed once, not once per token.
 */
const SEARCH_SCHEMA = `
    CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(text, content='messages', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2');
    CREATE VIRTUAL TABLE IF NOT EXISTS chats_fts USING fts5(title, content='chats', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2');
    CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages WHEN new.status != 'streaming' BEGIN
        INSERT INTO messages_fts (rowid, text) VALUES (new.rowid, new.text);
    END;
    CREATE TRIGGER IF NOT EXISTS messages_fts_unindex AFTER UPDATE OF text, status ON messages WHEN old.status != 'streaming' BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    END;
    CREATE TRIGGER IF NOT EXISTS messages_fts_index AFTER UPDATE OF text, status ON messages WHEN new.status != 'streaming' BEGIN
        INSERT INTO messages_fts (rowid, text) VALUES (new.rowid, new.text);
    END;
    CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages WHEN old.status != 'streaming' BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    END;
    CREATE TRIGGER IF NOT EXISTS chats_fts_insert AFTER INSERT ON chats BEGIN
        INSERT INTO chats_fts (rowid, title) VALUES (new.rowid, new.title);
    END;
    CREATE TRIGGER IF NOT EXISTS chats_fts_update AFTER UPDATE OF title ON chats BEGIN
        INSERT INTO chats_fts (chats_fts, rowid, title) VALUES ('delete', old.rowid, old.title);
        INSERT INTO chats_fts (rowid, title) VALUES (new.rowid, new.title);
    END;
    CREATE TRIGGER IF NOT EXISTS chats_fts_delete AFTER DELETE ON chats BEGIN
        INSERT INTO chats_fts (chats_fts, rowid, title) VALUES ('delete', old.rowid, old.title);
    END;`;

/** Marks around the matched words in a search snippet (never in a chat's text). */
export const MATCH_START = '\u0002';
export const MATCH_END = '\u0003';

/** A search's words as an FTS5 query: every word must be there, each also as the start of a longer one. */
export function ftsQuery(text: string): string | null {
    const words = text.normalize('NFKC').split(/[^\p{L}\p{N}_]+/u).filter((word) => word.length > 0).slice(0, 16);
    return words.length === 0 ? null : words.map((word) => `"${word}"*`).join(' ');
}

export interface SearchHit { chatId: string; title: string; messageId: string | null; snippet: string; updatedAt: number }

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
    /** Whether this SQLite has FTS5, so search uses its index (else a plain scan). */
    readonly fullTextSearch: boolean;
    #db: DatabaseSync;

    constructor(file: string) {
        this.file = file;
        if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
        this.#db = new DatabaseSync(file);
        this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;');
        this.#migrate();
        this.fullTextSearch = this.#ensureSearch();
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

    /** The search index and its triggers, filled from what is already here when they are new; false where SQLite has no FTS5. */
    #ensureSearch(): boolean {
        try {
            const existed = this.#db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'messages_fts'").get() != null;
            this.#transaction(() => {
                this.#db.exec(SEARCH_SCHEMA);
                if (existed) return;
                this.#db.exec("INSERT INTO messages_fts (rowid, text) SELECT rowid, text FROM messages WHERE status != 'streaming'");
                this.#db.exec('INSERT INTO chats_fts (rowid, title) SELECT rowid, title FROM chats');
            });
            return true;
        } catch (error) {
            if (!/fts5/i.test((error as Error).message)) throw error;
            return false;
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

    // A chat's own settings, and what its replies ran with

    chatSettings(chatId: string): ChatSettings {
        const row = this.#db.prepare('SELECT system_prompt, sampling FROM chats WHERE id = ?').get(chatId) as { system_prompt: string; sampling: string } | undefined;
        if (row == null) throw chatGone();
        let sampling: SamplingOverrides = {};
        try {
            // A damaged value is dropped key by key: the model's defaults apply instead.
            const stored = JSON.parse(row.sampling) as Record<string, unknown>;
            sampling = Object.fromEntries(Object.entries(stored).filter(([key, value]) => SamplingOverrides.safeParse({ [key]: value }).success));
        } catch {
            // not JSON: the model's defaults
        }
        return { systemPrompt: row.system_prompt, sampling };
    }

    setChatSettings(chatId: string, settings: ChatSettings): ChatSettings {
        this.getChat(chatId);
        this.#db.prepare('UPDATE chats SET system_prompt = ?, sampling = ? WHERE id = ?').run(settings.systemPrompt, JSON.stringify(settings.sampling), chatId);
        return this.chatSettings(chatId);
    }

    /** Records what a reply ran with (the model and its KV settings, in words). */
    setRanWith(messageId: string, ranWith: string): void {
        this.#db.prepare('UPDATE messages SET ran_with = ? WHERE id = ?').run(ranWith, messageId);
    }

    /** Each message of a chat with what its reply ran with (null for questions, and for replies from before this was kept). */
    ranWith(chatId: string): Map<string, string | null> {
        const rows = this.#db.prepare('SELECT id, ran_with FROM messages WHERE chat_id = ? ORDER BY seq').all(chatId) as unknown as Array<{ id: string; ran_with: string | null }>;
        return new Map(rows.map((row) => [row.id, row.ran_with]));
    }

    // Search

    /** Chats whose title or messages hold every word of `text` (a word may go on: "harb" finds "harbor"), best first. */
    search(text: string, limit = 50): SearchHit[] {
        const query = ftsQuery(text);
        if (query == null) return [];
        if (!this.fullTextSearch) return this.#scan(text, limit);
        const titles = this.#db.prepare(`SELECT c.id AS chatId, c.title AS title, NULL AS messageId, highlight(chats_fts, 0, ?, ?) AS snippet, c.updated_at AS updatedAt
            FROM chats_fts JOIN chats c ON c.rowid = chats_fts.rowid WHERE chats_fts MATCH ? ORDER BY bm25(chats_fts) LIMIT ?`).all(MATCH_START, MATCH_END, query, limit);
        const messages = this.#db.prepare(`SELECT c.id AS chatId, c.title AS title, m.id AS messageId, snippet(messages_fts, 0, ?, ?, '…', 16) AS snippet, c.updated_at AS updatedAt
            FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid JOIN chats c ON c.id = m.chat_id
            WHERE messages_fts MATCH ? ORDER BY bm25(messages_fts) LIMIT ?`).all(MATCH_START, MATCH_END, query, limit);
        return [...titles, ...messages].slice(0, limit) as unknown as SearchHit[];
    }

    /** Search without FTS5: every word somewhere in a title or a finished message, newest chats first. */
    #scan(text: string, limit: number): SearchHit[] {
        const words = (ftsQuery(text) ?? '').split(' ').map((word) => word.slice(1, -2).toLowerCase());
        const hits: SearchHit[] = [];
        const mark = (value: string) => {
            const lower = value.toLowerCase();
            const at = lower.indexOf(words[0] ?? '');
            const start = Math.max(0, at - 60);
            const part = value.slice(start, at + 120);
            const marked = words.reduce((s, word) => s.replace(new RegExp(word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi'), (m) => `${MATCH_START}${m}${MATCH_END}`), part);
            return `${start > 0 ? '…' : ''}${marked}${at + 120 < value.length ? '…' : ''}`;
        };
        const has = (value: string) => words.every((word) => value.toLowerCase().includes(word));
        for (const chat of this.listChats()) {
            if (has(chat.title)) hits.push({ chatId: chat.id, title: chat.title, messageId: null, snippet: mark(chat.title), updatedAt: chat.updatedAt });
            for (const message of this.listMessages(chat.id)) {
                if (message.status !== 'streaming' && has(message.text)) hits.push({ chatId: chat.id, title: chat.title, messageId: message.id, snippet: mark(message.text), updatedAt: chat.updatedAt });
            }
            if (hits.length >= limit) break;
        }
        return hits.slice(0, limit);
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
