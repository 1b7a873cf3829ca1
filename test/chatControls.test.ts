// Chat controls through the backend and a real engine host on organism.gguf: editing an earlier
// question and asking again reuses the documents already read (the tokens read are said), with
// the full cache and with head-level compression; a chat's system prompt and sampling reach the
// engine, and each reply records the model and KV settings it ran with, for the export.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { LoadParams } from '../common/loadParams.ts';
import { openBackend } from './support/backend.ts';
import { haystackText, passkey } from './support/haystack.ts';
import { rewriteGguf } from './support/hostileInputs.ts';
import { ORGANISM } from './support/models.ts';
import { requiresNative } from './support/native.ts';

const PROFILE = fileURLToPath(new URL('../bench/results/cpu-organism-profile/organism.profile.json', import.meta.url));
const base64 = (text: string) => Buffer.from(text).toString('base64');

/** A chat with one document holding `fact`, asked about it, then the question edited and asked again. */
function editAndAskAgain(load: LoadParams) {
    const fact = passkey('silver lantern', '73914');
    let session: ReturnType<typeof openBackend>;
    let chatId: string;
    let documentTokens: number;

    before(async () => {
        session = openBackend(await mkdtemp(path.join(os.tmpdir(), 'headroom-controls-')));
        const model = await session.backend.supervisor.load(load);
        assert.equal(model.kv.active, load.kv != null, `the head-level cache is ${load.kv != null ? 'on' : 'off'} (${model.kv.reason ?? 'active'})`);
        chatId = (await session.call('chats.create', {})).id;
        const doc = await session.call('documents.add', { chatId, uploadId: 'u1', name: 'handbook.txt', dataBase64: base64(haystackText(fact.fact, 4_000)) });
        documentTokens = doc.tokens ?? 0;
        assert.ok(documentTokens > 600, `a document worth keeping (${documentTokens} tokens)`);
    });
    after(() => session?.backend.dispose());

    test('an edited question is answered without reading the document again; the tokens read are said', async () => {
        const first = await session.call('chat.send', { chatId, prompt: 'What is the weather like?' });
        assert.equal(first.status, 'done');
        await session.call('chat.send', { chatId, prompt: 'And tomorrow?' });
        const asked = (await session.call('chats.open', { chatId })).messages[0];
        assert.ok(asked != null);
        const edited = await session.call('chat.edit', { messageId: asked.id, text: fact.question });
        assert.match(edited.text, new RegExp(fact.digits), 'the edited question is answered from the document');
        const view = await session.call('chats.open', { chatId });
        assert.deepEqual(view.messages.map((m) => m.role), ['user', 'assistant'], 'the turns after the edited question are gone');
        const prefill = view.lastPrefill;
        assert.ok(prefill != null);
        const read = prefill.tokens - prefill.reusedTokens;
        assert.ok(prefill.reusedTokens >= documentTokens, `the document's ${documentTokens} tokens were reused (${prefill.reusedTokens} of ${prefill.tokens})`);
        assert.ok(read <= 48, `only the edited question was read (${read} tokens)`);
    });
}

describe('edit and ask again, full cache', () => editAndAskAgain({ path: ORGANISM, contextSize: 4096 }));

describe('edit and ask again, head-level compression', requiresNative(), () => editAndAskAgain({
    path: ORGANISM, contextSize: 4096, kv: { mode: 'budget', budget: 0.5, sinks: 4, window: 128, offload: 'auto', profile: PROFILE },
}));

describe('a chat\'s system prompt and sampling reach the engine (full cache)', () => {
    const fact = passkey('amber compass', '61847');
    let session: ReturnType<typeof openBackend>;
    let chatId: string;
    let documentTokens: number;

    before(async () => {
        session = openBackend(await mkdtemp(path.join(os.tmpdir(), 'headroom-controls-')));
        await session.backend.supervisor.load({ path: ORGANISM, contextSize: 4096 });
        chatId = (await session.call('chats.create', {})).id;
        documentTokens = (await session.call('documents.add', { chatId, uploadId: 'u1', name: 'atlas.txt', dataBase64: base64(haystackText(fact.fact, 4_000)) })).tokens ?? 0;
    });
    after(() => session?.backend.dispose());

    test('a system prompt goes after the documents: set or changed, the documents are not read again', async () => {
        await session.call('chat.send', { chatId, prompt: fact.question });
        const plain = (await session.call('chats.open', { chatId })).lastPrefill;
        await session.call('chats.updateSettings', { chatId, systemPrompt: 'You answer questions about the attached documents. Quote the passcode exactly as written.' });
        const reply = await session.call('chat.regenerate', { chatId });
        assert.match(reply.text, new RegExp(fact.digits));
        const instructed = (await session.call('chats.open', { chatId })).lastPrefill;
        assert.ok(plain != null && instructed != null);
        assert.ok(instructed.tokens >= plain.tokens + 10, `the system prompt is in the prompt (${plain.tokens} → ${instructed.tokens} tokens)`);
        assert.ok(instructed.reusedTokens >= documentTokens, `the documents were reused (${instructed.reusedTokens} of ${instructed.tokens})`);
    });

    test('the longest reply stops a reply there, said as such; the reply records what it ran with, and the export says it', async () => {
        await session.call('chats.updateSettings', { chatId, sampling: { maxTokens: 3, temperature: 0 } });
        const reply = await session.call('chat.send', { chatId, prompt: 'Describe the license of this package in detail.' });
        assert.equal(reply.status, 'replyLimit');
        const [tokens = 0] = (await session.backend.supervisor.countTokens([reply.text])) ?? [];
        assert.ok(tokens <= 4, `at most 3 tokens (${tokens}: ${JSON.stringify(reply.text)})`);
        const { markdown } = await session.call('chats.export', { chatId });
        assert.match(markdown, /^- Documents: atlas\.txt$/m);
        assert.match(markdown, /^- Model and KV settings: Headroom retrieval organism \(organism\.gguf\) · 4,096-token context · KV: full cache \(compression off\) · cache f16 · flash attention auto · (Headroom's|stock) llama\.cpp on the CPU$/m);
        assert.match(markdown, /^- Sampling: temperature 0, top-p 0\.95 \(model default\).*longest reply 3 tokens$/m);
        assert.match(markdown, /\*\(stopped at the chat's longest reply\)\*\n$/);
    });
});

describe('the model\'s own sampling defaults (general.sampling.* in its GGUF)', () => {
    let session: ReturnType<typeof openBackend>;
    let file: string;

    before(async () => {
        const dir = await mkdtemp(path.join(os.tmpdir(), 'headroom-sampling-'));
        file = path.join(dir, 'organism-sampling.gguf');
        await writeFile(file, rewriteGguf(await readFile(ORGANISM), { 'general.sampling.temp': 0.6, 'general.sampling.top_k': 20, 'general.sampling.top_p': 0.9 }));
        session = openBackend(path.join(dir, 'data'));
        await session.backend.supervisor.load({ path: file, contextSize: 1024 });
    });
    after(() => session?.backend.dispose());

    test('are what a chat runs with where it sets nothing, and are said to be the model\'s', async () => {
        const chatId = (await session.call('chats.create', {})).id;
        const view = await session.call('chats.settings', { chatId });
        assert.deepEqual(view.defaults, { temperature: 0.6, topP: 0.9, topK: 20, minP: 0, repeatPenalty: 1, maxTokens: null });
        assert.deepEqual(view.fromModel.sort(), ['temperature', 'topK', 'topP']);
        assert.equal(view.defaultsFrom, 'organism-sampling.gguf');
        const reply = await session.call('chat.send', { chatId, prompt: 'Hello there' });
        assert.equal(reply.status === 'done' || reply.status === 'contextFull', true, `a reply sampled at the model's temperature (${reply.status})`);
        assert.match((await session.call('chats.export', { chatId })).markdown, /- Sampling: temperature 0\.6 \(model default\), top-p 0\.9 \(model default\), top-k 20 \(model default\)/);
    });
});
