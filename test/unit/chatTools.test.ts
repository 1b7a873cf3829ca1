// A chat's own settings, search, Markdown export and where data lives, through the backend's
// request path (the contract's validation, the handlers, real SQLite); the engine host is a stand-in
// that never answers, since none of these needs a model (chat turns: test/chatControls.test.ts).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { createBackend, type Backend } from '../../backend/backend.ts';
import { LIBRARY_SAMPLING } from '../../common/chatSettings.ts';
import type { HeadroomError } from '../../common/errors.ts';

const scratch = await mkdtemp(path.join(os.tmpdir(), 'headroom-chat-tools-'));
after(() => rm(scratch, { recursive: true, force: true }));
const silentHost = () => ({ pid: null, send: () => {}, onMessage: () => {}, onExit: () => {}, kill: () => {} });
let folders = 0;
function backend(options: { openFolder?: (folder: string) => Promise<void> } = {}): Backend {
    return createBackend({ spawnHost: silentHost, dataDir: path.join(scratch, String(folders++)), ...options });
}
const refusal = (field: string) => (error: HeadroomError) => error.code === 'BAD_REQUEST' && error.field === field;

describe('a chat\'s own settings', () => {
    test('start at the defaults, are saved with the chat, and are refused in words when out of range', async () => {
        const b = backend();
        try {
            const chat = await b.request('chats.create', { title: 'Tides' });
            const fresh = await b.request('chats.settings', { chatId: chat.id });
            assert.deepEqual(fresh, { systemPrompt: '', sampling: {}, defaults: LIBRARY_SAMPLING, defaultsFrom: null, fromModel: [] });
            const saved = await b.request('chats.updateSettings', { chatId: chat.id, systemPrompt: 'Answer in one sentence.', sampling: { temperature: 0.7, maxTokens: 200 } });
            assert.deepEqual([saved.systemPrompt, saved.sampling], ['Answer in one sentence.', { temperature: 0.7, maxTokens: 200 }]);
            assert.deepEqual((await b.request('chats.updateSettings', { chatId: chat.id, sampling: { topK: 20 } })).sampling, { topK: 20 }, 'sampling is replaced as a whole');
            assert.equal((await b.request('chats.settings', { chatId: chat.id })).systemPrompt, 'Answer in one sentence.', 'a prompt left out is kept');
            await assert.rejects(b.request('chats.updateSettings', { chatId: chat.id, sampling: { temperature: 9 } }), refusal('sampling.temperature'));
            await assert.rejects(b.request('chats.updateSettings', { chatId: chat.id, sampling: { topK: 2.5 } }), refusal('sampling.topK'));
            await assert.rejects(b.request('chats.settings', { chatId: 'gone' }), (error: HeadroomError) => error.code === 'NOT_FOUND');
        } finally {
            b.dispose();
        }
    });
});

describe('search and export', () => {
    test('search finds titles and messages with the matched words marked', async () => {
        const b = backend();
        try {
            const chat = await b.request('chats.create', { title: 'Harbor codes' });
            b.db.addMessage(chat.id, 'user', 'What is the passcode for the golden harbor?', 'done');
            const hits = await b.request('chats.search', { query: 'harbor' });
            assert.deepEqual(hits.map((hit) => [hit.title, hit.messageId != null]), [['Harbor codes', false], ['Harbor codes', true]]);
            assert.deepEqual(hits[1]?.parts, [{ text: 'What is the passcode for the golden ', match: false }, { text: 'harbor', match: true }, { text: '?', match: false }]);
            assert.deepEqual(await b.request('chats.search', { query: '' }), []);
        } finally {
            b.dispose();
        }
    });

    test('a chat as Markdown: its documents, the model and KV settings each reply ran with, its prompt and sampling, every turn', async () => {
        const b = backend();
        try {
            const chat = await b.request('chats.create', { title: 'Lantern: codes?' });
            b.db.addDocument(chat.id, { name: 'handbook.pdf', kind: 'pdf', sizeBytes: 10, pages: 1, text: 'text', warnings: [] });
            b.db.addDocument(chat.id, { name: 'notes.txt', kind: 'text', sizeBytes: 4, pages: null, text: 'more', warnings: [] });
            await b.request('chats.updateSettings', { chatId: chat.id, systemPrompt: 'Be brief.\nCite pages.', sampling: { temperature: 0.5 } });
            b.db.addMessage(chat.id, 'user', 'What is the code?', 'done');
            const first = b.db.addMessage(chat.id, 'assistant', 'It is 4417.', 'done');
            b.db.setRanWith(first.id, 'organism.gguf · 2,048-token context · KV: full cache (compression off)');
            b.db.addMessage(chat.id, 'user', 'And the other?', 'done');
            const second = b.db.addMessage(chat.id, 'assistant', 'It is', 'stopped');
            b.db.setRanWith(second.id, 'organism.gguf · 2,048-token context · KV: compressed (auto, sinks 4, window 128, full heads on auto)');
            const { fileName, markdown } = await b.request('chats.export', { chatId: chat.id });
            assert.equal(fileName, 'Lantern codes.md');
            const lines = markdown.split('\n');
            assert.equal(lines[0], '# Lantern: codes?');
            assert.ok(lines.includes('- Documents: handbook.pdf (1 page), notes.txt'));
            assert.ok(lines.includes('- Model and KV settings (each reply says which it ran with):'));
            assert.ok(lines.includes('  - organism.gguf · 2,048-token context · KV: full cache (compression off)'));
            assert.ok(lines.some((line) => line.startsWith('- Sampling: temperature 0.5, top-p 0.95 (model default), top-k 40 (model default)')), markdown);
            assert.match(markdown, /- System prompt:\n\n> Be brief\.\n> Cite pages\.\n/);
            assert.match(markdown, /## You\n\nWhat is the code\?\n\n## Headroom\n\n\*Ran with: organism\.gguf · 2,048-token context · KV: full cache \(compression off\)\*\n\nIt is 4417\./);
            assert.match(markdown, /It is\n\n\*\(stopped before the end\)\*\n$/);
        } finally {
            b.dispose();
        }
    });
});

describe('where data lives', () => {
    test('each kind with its place; a browser is told the folder, the desktop app opens it', async () => {
        const web = backend();
        try {
            const locations = await web.request('app.dataLocations', {});
            assert.deepEqual(locations.kinds.map((kind) => kind.kind), ['chats', 'profiles', 'models', 'snapshots', 'modelHashes', 'logs']);
            const chats = locations.kinds.find((kind) => kind.kind === 'chats');
            assert.equal(chats?.path, path.join(scratch, String(folders - 1), 'headroom.sqlite'));
            assert.equal(chats?.folder, path.join(scratch, String(folders - 1)));
            assert.equal(locations.canOpen, false);
            await assert.rejects(web.request('app.openFolder', { kind: 'chats' }), (error: HeadroomError) => error.code === 'NOT_AVAILABLE' && error.message.includes(chats?.folder ?? '-'));
        } finally {
            web.dispose();
        }
        const opened: string[] = [];
        const desktop = backend({ openFolder: async (folder) => void opened.push(folder) });
        try {
            assert.equal((await desktop.request('app.dataLocations', {})).canOpen, true);
            await desktop.request('app.openFolder', { kind: 'snapshots' });
            assert.deepEqual(opened, [desktop.paths.snapshots]);
            await assert.rejects(desktop.request('app.openFolder', { kind: 'elsewhere' as 'logs' }), refusal('kind'));
        } finally {
            desktop.dispose();
        }
    });
});
