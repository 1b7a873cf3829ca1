// The backend's chats for real: SQLite on disk, documents extracted off the main thread,
// organism.gguf in a real engine host, KV snapshots saved and restored across restarts.
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { DATABASE_FILE } from '../backend/backend.ts';
import { HeadroomError } from '../common/errors.ts';
import { openBackend } from './support/backend.ts';
import { HeadroomDatabase, SCHEMA_VERSION } from '../backend/database.ts';
import { haystackPdf, haystackText, passkey } from './support/haystack.ts';
import { ORGANISM } from './support/models.ts';
import { requiresNative } from './support/native.ts';

const base64 = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64');

async function refusedWith(promise: Promise<unknown>, code: string, message: RegExp) {
    await assert.rejects(promise, (error: HeadroomError) => {
        assert.equal(error.code, code);
        assert.match(error.message, message);
        return true;
    });
}

describe('chat database', () => {
    test('migrates a new file to the current schema, in WAL mode, and reopens it cleanly', async () => {
        const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'headroom-db-')), 'nested', DATABASE_FILE);
        const db = new HeadroomDatabase(file);
        const chat = db.createChat('Notes');
        db.addMessage(chat.id, 'user', 'Hello', 'done');
        const reply = db.addMessage(chat.id, 'assistant', 'Hel', 'streaming');
        db.close();

        const raw = new DatabaseSync(file);
        assert.equal((raw.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal');
        assert.equal((raw.prepare('PRAGMA user_version').get() as { user_version: number }).user_version, SCHEMA_VERSION);
        raw.close();

        const reopened = new HeadroomDatabase(file);
        assert.equal(reopened.integrityCheck(), 'ok');
        const messages = reopened.listMessages(chat.id);
        assert.deepEqual(messages.map((m) => [m.role, m.text, m.status]), [['user', 'Hello', 'done'], ['assistant', 'Hel', 'interrupted']]);
        assert.equal(messages[1]?.id, reply.id);
        reopened.close();
    });

    test('refuses a database from a newer Headroom instead of damaging it', async () => {
        const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'headroom-db-')), DATABASE_FILE);
        const raw = new DatabaseSync(file);
        raw.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
        raw.close();
        assert.throws(() => new HeadroomDatabase(file), /written by a newer Headroom/);
    });
});

describe('chats with documents on organism.gguf', () => {
    const fact = passkey('silver lantern', '73914');
    let dataDir: string;
    let first: ReturnType<typeof openBackend>;
    let chatId: string;
    let answer: string;

    before(async () => {
        dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-chats-'));
        first = openBackend(dataDir);
        await first.backend.supervisor.load({ path: ORGANISM });
    });
    after(() => first?.backend.dispose());

    test('a dropped PDF is extracted with its pages, counted with the model tokenizer, and shown in the budget', async () => {
        chatId = (await first.call('chats.create', {})).id;
        const doc = await first.call('documents.add', { chatId, uploadId: 'up1', name: 'handbook.pdf', dataBase64: base64(haystackPdf(fact.fact)) });
        assert.equal(doc.kind, 'pdf');
        assert.ok(doc.pages != null && doc.pages >= 6, `many pages (${doc.pages})`);
        assert.ok(doc.tokens != null && doc.tokens > 1000 && doc.tokens <= 1600, `about 1,500 tokens (${doc.tokens})`);
        const stages = first.events.filter((e) => e.name === 'document.progress').map((e) => e.payload.stage);
        assert.deepEqual([...new Set(stages)], ['reading', 'extracting', 'counting']);
        const view = await first.call('chats.open', { chatId });
        assert.equal(view.documents.length, 1);
        assert.deepEqual(view.budget, { contextSize: 4096, documentTokens: doc.tokens, conversationTokens: 0, remaining: 4096 - doc.tokens });
    });

    test('bad documents are refused in plain words and the chat stays as it was', async () => {
        await refusedWith(first.call('documents.add', { chatId, uploadId: 'up2', name: 'photo.png', dataBase64: base64('\x89PNG\r\n') }), 'UNSUPPORTED_DOCUMENT', /^Headroom can't read \.png files/);
        await refusedWith(first.call('documents.add', { chatId, uploadId: 'up3', name: 'empty.txt', dataBase64: '' }), 'DOCUMENT_UNREADABLE', /^empty\.txt is empty/);
        await refusedWith(first.call('documents.add', { chatId, uploadId: 'up4', name: 'broken.pdf', dataBase64: base64('%PDF-1.4 garbage') }), 'DOCUMENT_UNREADABLE', /^broken\.pdf is damaged/);
        // ≈ 5,000 tokens beside the 1,500 already there: more than the 4,096-token context holds.
        await refusedWith(
            first.call('documents.add', { chatId, uploadId: 'up5', name: 'license.txt', dataBase64: base64(haystackText('', 11_000)) }),
            'CONTEXT_OVERFLOW',
            // More than organism was trained for: no context of its would hold it, so no reload is offered.
            /^license\.txt has [\d,]+ tokens, but only [\d,]+ fit beside the other documents \([\d,]+ tokens\) in the 4,096-token context with room for a reply\. .+ was trained for 4,096 tokens, fewer than this needs: a model trained for a longer context would read it whole \(Models… lists them\)\.$/,
        );
        const view = await first.call('chats.open', { chatId });
        assert.deepEqual(view.documents.map((d) => d.name), ['handbook.pdf']);
    });

    test('a question about the buried fact is answered from the whole document, and its KV state is saved', async () => {
        const reply = await first.call('chat.send', { chatId, prompt: fact.question });
        assert.equal(reply.status, 'done');
        assert.match(reply.text, new RegExp(fact.digits));
        answer = reply.text;
        const prefills = first.events.filter((e) => e.name === 'chat.prefill' && e.payload.generationId === reply.id);
        assert.ok(prefills.length >= 3, 'prefill progress was reported in steps');
        const view = await first.call('chats.open', { chatId });
        assert.equal(view.chat.title, fact.question, 'a new chat is named after its first question');
        assert.deepEqual(view.messages.map((m) => m.role), ['user', 'assistant']);
        assert.equal(view.lastPrefill?.snapshot, 'saved');
        assert.equal(view.lastPrefill?.reusedTokens, 0);
        assert.ok((view.budget?.conversationTokens ?? 0) > 0);
        assert.ok(existsSync(path.join(dataDir, 'snapshots', `${chatId}.kvstate`)));
    });

    test('edit and resend replaces the turn; regenerate answers the same question again', async () => {
        const [question] = (await first.call('chats.open', { chatId })).messages;
        assert.ok(question != null);
        const edited = await first.call('chat.edit', { messageId: question.id, text: 'What is the passcode for the golden harbor?' });
        assert.equal(edited.status, 'done');
        let view = await first.call('chats.open', { chatId });
        assert.deepEqual(view.messages.map((m) => m.text.slice(0, 40)), ['What is the passcode for the golden harb', edited.text.slice(0, 40)]);
        await first.call('chat.edit', { messageId: view.messages[0]?.id ?? '', text: fact.question });
        const again = await first.call('chat.regenerate', { chatId });
        assert.equal(again.text, answer);
        view = await first.call('chats.open', { chatId });
        assert.equal(view.messages.length, 2);
    });

    test('after a restart the chat reopens from disk and the KV snapshot replaces re-reading the document', async () => {
        first.backend.dispose();
        const second = openBackend(dataDir);
        try {
            await second.backend.supervisor.load({ path: ORGANISM });
            const before = await second.call('chats.open', { chatId });
            assert.deepEqual(before.documents.map((d) => d.name), ['handbook.pdf']);
            assert.equal(before.messages.length, 2);
            const reply = await second.call('chat.regenerate', { chatId });
            const view = await second.call('chats.open', { chatId });
            const prefill = view.lastPrefill;
            assert.ok(prefill != null);
            assert.equal(prefill.snapshot, 'restored');
            const read = prefill.tokens - prefill.reusedTokens;
            assert.ok(read <= 32, `only the question is read after a restore (${read} of ${prefill.tokens} tokens)`);
            assert.ok(prefill.originalPrefillMs != null && prefill.originalPrefillMs > 0);
            assert.equal(reply.text, answer, 'the answer after a restore is the answer without it');
            assert.equal(second.backend.db.integrityCheck(), 'ok');
        } finally {
            second.backend.dispose();
        }
    });

    test('chats can be renamed and deleted, with their snapshot', async () => {
        const third = openBackend(dataDir);
        try {
            const renamed = await third.call('chats.rename', { chatId, title: 'Lantern codes' });
            assert.equal(renamed.title, 'Lantern codes');
            assert.deepEqual((await third.call('chats.list', {})).map((c) => c.title), ['Lantern codes']);
            await third.call('chats.delete', { chatId });
            assert.deepEqual(await third.call('chats.list', {}), []);
            assert.ok(!existsSync(path.join(dataDir, 'snapshots', `${chatId}.kvstate`)));
            await refusedWith(third.call('chats.open', { chatId }), 'NOT_FOUND', /no longer exists/);
        } finally {
            third.backend.dispose();
        }
    });
});

describe('a reply that fills the context (organism.gguf, 512 tokens)', () => {
    test('is kept and marked context-full, and the next question is refused in plain words', async () => {
        const session = openBackend(await mkdtemp(path.join(os.tmpdir(), 'headroom-full-')));
        try {
            await session.backend.supervisor.load({ path: ORGANISM, contextSize: 512 });
            const chatId = (await session.call('chats.create', {})).id;
            // Outside its passkey task the organism writes documentation until it is stopped.
            const reply = await session.call('chat.send', { chatId, prompt: 'Describe the license of this package in detail.' });
            assert.equal(reply.status, 'contextFull');
            assert.ok(reply.text.length > 500, `the reply ran on (${reply.text.length} characters)`);
            const view = await session.call('chats.open', { chatId });
            const remaining = view.budget?.remaining ?? Infinity;
            assert.ok(remaining < 32, `the context is used up (${remaining} tokens left)`);
            await refusedWith(session.call('chat.send', { chatId, prompt: 'And then?' }), 'CONTEXT_OVERFLOW', /but the context holds 512\. Load the model with a larger context size/);
            assert.deepEqual((await session.call('chats.open', { chatId })).messages.map((m) => m.status), ['done', 'contextFull']);
        } finally {
            session.backend.dispose();
        }
    });
});

describe('KV snapshots of the compressed cache (organism.gguf, 25% budget)', requiresNative(), () => {
    const fact = passkey('copper kettle', '48216');
    const kvAt = (budget: number) => ({ mode: 'budget' as const, budget, sinks: 4, window: 128, offload: 'auto' as const });
    const snapshotBytes = (dataDir: string, chatId: string) => statSync(path.join(dataDir, 'snapshots', `${chatId}.kvstate`)).size;

    /** One chat with the PDF, asked once; returns the reply, the chat and the snapshot size. */
    async function askOnce(dataDir: string, kv: ReturnType<typeof kvAt> | undefined) {
        const session = openBackend(dataDir);
        try {
            const info = await session.backend.supervisor.load({ path: ORGANISM, contextSize: 2048, kv });
            assert.equal(info.kv.active, kv != null, info.kv.reason ?? '');
            const chatId = (await session.call('chats.create', {})).id;
            await session.call('documents.add', { chatId, uploadId: 'u1', name: 'kettle.pdf', dataBase64: base64(haystackPdf(fact.fact)) });
            const reply = await session.call('chat.send', { chatId, prompt: fact.question });
            assert.equal((await session.call('chats.open', { chatId })).lastPrefill?.snapshot, 'saved');
            return { reply: reply.text, chatId, bytes: snapshotBytes(dataDir, chatId) };
        } finally {
            session.backend.dispose();
        }
    }

    test('saved smaller than the full cache\'s, restored only into the same layout, same answer', async () => {
        const stock = await askOnce(await mkdtemp(path.join(os.tmpdir(), 'headroom-snap-stock-')), undefined);
        const dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-snap-kv-'));
        const compressed = await askOnce(dataDir, kvAt(0.25));
        assert.match(compressed.reply, new RegExp(fact.digits));
        assert.ok(compressed.bytes < stock.bytes * 0.6, `compressed snapshot ${compressed.bytes} bytes vs full ${stock.bytes}`);

        const again = openBackend(dataDir);
        try {
            await again.backend.supervisor.load({ path: ORGANISM, contextSize: 2048, kv: kvAt(0.25) });
            const reply = await again.call('chat.regenerate', { chatId: compressed.chatId });
            const prefill = (await again.call('chats.open', { chatId: compressed.chatId })).lastPrefill;
            assert.ok(prefill != null);
            assert.equal(prefill.snapshot, 'restored');
            assert.ok(prefill.tokens - prefill.reusedTokens <= 32, 'only the question is read after a restore');
            assert.equal(reply.text, compressed.reply, 'the answer after a restore is the answer without it');

            // Another head plan: the snapshot does not fit that cache, so the document is read again.
            await again.backend.supervisor.load({ path: ORGANISM, contextSize: 2048, kv: kvAt(0.5) });
            const other = await again.call('chat.regenerate', { chatId: compressed.chatId });
            assert.notEqual((await again.call('chats.open', { chatId: compressed.chatId })).lastPrefill?.snapshot, 'restored');
            assert.match(other.text, new RegExp(fact.digits));
        } finally {
            again.backend.dispose();
        }
    });
});
