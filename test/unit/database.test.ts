// The chats database's own features, through real SQLite: full-text search over titles and
// finished messages (FTS5, kept by triggers), a chat's own settings, and a database from before
// them brought up to date with its messages searchable.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, test } from 'node:test';
import { ftsQuery, HeadroomDatabase, MATCH_END, MATCH_START, SCHEMA_VERSION } from '../../backend/database.ts';

const scratch = await mkdtemp(path.join(os.tmpdir(), 'headroom-db-unit-'));
after(() => rm(scratch, { recursive: true, force: true }));
let files = 0;
const newDatabase = () => new HeadroomDatabase(path.join(scratch, `${files++}.sqlite`));
const marked = (snippet: string) => snippet.replaceAll(MATCH_START, '[').replaceAll(MATCH_END, ']');

describe('search over chats', () => {
    test('this SQLite has FTS5', () => {
        const db = newDatabase();
        assert.equal(db.fullTextSearch, true);
        db.close();
    });

    test('titles and finished messages are found by every word, a word also as the start of a longer one; a streaming reply once it is finished', () => {
        const db = newDatabase();
        const harbor = db.createChat('Lantern codes');
        db.addMessage(harbor.id, 'user', 'What is the passcode for the golden harbor?', 'done');
        const reply = db.addMessage(harbor.id, 'assistant', '', 'streaming');
        db.appendToMessage(reply.id, 'The golden harbor passcode is 4417.');
        const other = db.createChat('Grocery list');
        db.addMessage(other.id, 'user', 'Buy lanterns and bread', 'done');

        assert.deepEqual(db.search('4417'), [], 'a reply being written is not indexed token by token');
        db.finishMessage(reply.id, { status: 'done' });
        const found = db.search('harb passcode');
        assert.deepEqual(found.map((hit) => [hit.chatId, hit.messageId]), [[harbor.id, found[0]?.messageId], [harbor.id, found[1]?.messageId]]);
        assert.deepEqual(found.map((hit) => marked(hit.snippet)).sort(), ['The golden [harbor] [passcode] is 4417.', 'What is the [passcode] for the golden [harbor]?']);
        assert.deepEqual(db.search('4417').map((hit) => hit.messageId), [reply.id]);
        assert.deepEqual(db.search('lantern').map((hit) => [hit.title, hit.messageId == null ? 'title' : 'message']), [['Lantern codes', 'title'], ['Grocery list', 'message']]);
        assert.equal(marked(db.search('lantern')[0]?.snippet ?? ''), '[Lantern] codes');

        db.renameChat(harbor.id, 'Harbor codes');
        assert.deepEqual(db.search('codes').map((hit) => hit.title), ['Harbor codes']);
        assert.deepEqual(db.search('lantern codes'), [], 'the old title is gone from the index');
        db.truncateFrom(reply.id);
        assert.deepEqual(db.search('4417'), [], 'a removed message is gone from the index');
        db.deleteChat(harbor.id);
        assert.deepEqual(db.search('harbor'), [], 'a deleted chat\'s title and messages are gone');
        assert.deepEqual(db.search('  "*(  '), [], 'words only: the query syntax cannot be typed');
        db.close();
    });

    test('a query is words, quoted, each a prefix', () => {
        assert.equal(ftsQuery('golden "harbor" OR NEAR(x'), '"golden"* "harbor"* "OR"* "NEAR"* "x"*');
        assert.equal(ftsQuery(' ,.; '), null);
    });

    test('a database from before search is brought up to date, its messages searchable', () => {
        const file = path.join(scratch, 'old.sqlite');
        const old = new DatabaseSync(file);
        // Schema 1, as the first release wrote it (backend/database.ts's first migration).
        old.exec(`CREATE TABLE chats (id TEXT PRIMARY KEY, title TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
            CREATE TABLE messages (id TEXT PRIMARY KEY, chat_id TEXT NOT NULL REFERENCES chats(id) ON DELETE CASCADE, seq INTEGER NOT NULL, role TEXT NOT NULL CHECK (role IN ('user', 'assistant')), text TEXT NOT NULL, status TEXT NOT NULL, error TEXT, created_at INTEGER NOT NULL, UNIQUE (chat_id, seq));
            CREATE TABLE documents (id TEXT PRIMARY KEY, chat_id TEXT NOT NULL REFERENCES chats(id) ON DELETE CASCADE, name TEXT NOT NULL, kind TEXT NOT NULL, size_bytes INTEGER NOT NULL, pages INTEGER, text TEXT NOT NULL, warnings TEXT NOT NULL DEFAULT '[]', created_at INTEGER NOT NULL);
            CREATE TABLE document_tokens (document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE, model_key TEXT NOT NULL, tokens INTEGER NOT NULL, PRIMARY KEY (document_id, model_key));
            CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE kv_snapshots (chat_id TEXT PRIMARY KEY REFERENCES chats(id) ON DELETE CASCADE, file TEXT NOT NULL, model_key TEXT NOT NULL, prefix_hash TEXT NOT NULL, tokens INTEGER NOT NULL, prefill_ms INTEGER NOT NULL, created_at INTEGER NOT NULL);
            INSERT INTO chats VALUES ('c1', 'Old chat', 1, 1);
            INSERT INTO messages VALUES ('m1', 'c1', 1, 'user', 'an old question about tides', 'done', NULL, 1);
            INSERT INTO messages VALUES ('m2', 'c1', 2, 'assistant', 'cut off when the app died', 'streaming', NULL, 2);
            PRAGMA user_version = 1;`);
        old.close();
        const db = new HeadroomDatabase(file);
        assert.equal((new DatabaseSync(file, { readOnly: true }).prepare('PRAGMA user_version').get() as { user_version: number }).user_version, SCHEMA_VERSION);
        assert.deepEqual(db.search('tides').map((hit) => hit.messageId), ['m1']);
        assert.deepEqual(db.search('died').map((hit) => hit.messageId), ['m2'], 'the reply cut off by a crash is marked interrupted, and indexed');
        assert.deepEqual(db.chatSettings('c1'), { systemPrompt: '', sampling: {} });
        db.close();
    });
});

describe('a chat\'s own settings', () => {
    test('saved with the chat; a damaged value falls back to the model\'s default', () => {
        const db = newDatabase();
        const chat = db.createChat('Settings');
        assert.deepEqual(db.chatSettings(chat.id), { systemPrompt: '', sampling: {} });
        assert.deepEqual(db.setChatSettings(chat.id, { systemPrompt: 'Answer in French.', sampling: { temperature: 0.7, maxTokens: 256 } }),
            { systemPrompt: 'Answer in French.', sampling: { temperature: 0.7, maxTokens: 256 } });
        const raw = new DatabaseSync(db.file);
        raw.prepare('UPDATE chats SET sampling = ? WHERE id = ?').run(JSON.stringify({ temperature: 'hot', topK: 20 }), chat.id);
        raw.close();
        assert.deepEqual(db.chatSettings(chat.id).sampling, { topK: 20 });
        assert.throws(() => db.chatSettings('no-such-chat'), /no longer exists/);
        db.close();
    });
});
