// The IPC contracts at both boundaries (window ↔ backend: common/uiContract.ts; backend ↔ engine
// host: common/contract.ts): malformed requests of every type are refused with a clear error
// before any handler runs, a method of one side is unknown on the other, the load's rules between
// fields hold at the engine host's door, and clients drop malformed responses and events.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hostContract, hostRequests, type Contract, type RequestTable } from '../../common/contract.ts';
import { HeadroomError, UNEXPECTED_ERROR } from '../../common/errors.ts';
import { dispatch, RpcClient, type Handlers } from '../../common/rpc.ts';
import { uiContract, uiRequests } from '../../common/uiContract.ts';

/** Handlers that fail the test if a bad request ever reaches them. */
function untouchableHandlers<R extends RequestTable>(contract: Contract<R>): Handlers<R> {
    const handlers: Record<string, () => Promise<never>> = {};
    for (const method of Object.keys(contract.requests)) {
        handlers[method] = async () => assert.fail(`${method} handler ran for an invalid request`);
    }
    return handlers as unknown as Handlers<R>;
}

type Cases = Array<{ params: unknown; mentions: string }>;

// For each request type of the window's contract: payloads that must be refused, each with the field the error must name.
// the same requests cross both boundaries (renderer → main, main → engine host)
const malformedProfile: Cases = [
    { params: {}, mentions: 'path' },
    { params: { path: '/m.gguf', prompts: 0 }, mentions: 'prompts' },
    { params: { path: '/m.gguf', tokens: 64 }, mentions: 'tokens' },
    { params: { path: '/m.gguf', budget: 0.5 }, mentions: 'budget' },
    { params: { path: '/m.gguf', contextSize: 100 }, mentions: 'contextSize' },
    { params: { path: '/m.gguf', validationPrompts: 0 }, mentions: 'validationPrompts' },
];
const malformedProfileEstimate: Cases = [
    { params: {}, mentions: 'path' },
    { params: { path: '/m.gguf', force: true }, mentions: 'force' },
];

const malformedUi: Record<keyof typeof uiRequests, Cases> = {
    'engine.getState': [{ params: { extra: 1 }, mentions: 'extra' }, { params: 'now', mentions: 'must be an object' }],
    'engine.restart': [{ params: { force: true }, mentions: 'force' }, { params: [], mentions: 'must be an object' }],
    'engine.kvStats': [{ params: { layer: 1 }, mentions: 'layer' }],
    'model.load': [
        { params: {}, mentions: 'path' },
        { params: { path: '' }, mentions: 'path' },
        { params: { path: 42 }, mentions: 'path' },
        { params: { path: '/m.gguf', contextSize: 2048 }, mentions: 'contextSize' },
        { params: { path: '/m.gguf', overrides: { contextSize: -5 } }, mentions: 'overrides.contextSize' },
        { params: { path: '/m.gguf', overrides: { gpuLayers: 'all' } }, mentions: 'overrides.gpuLayers' },
        { params: { path: '/m.gguf', overrides: { kvMode: 'half' } }, mentions: 'overrides.kvMode' },
        { params: { path: '/m.gguf', overrides: { kvBudget: 1.5 } }, mentions: 'overrides.kvBudget' },
        { params: { path: '/m.gguf', overrides: { appearance: 'dark' } }, mentions: 'appearance' },
    ],
    'model.unload': [{ params: { now: true }, mentions: 'now' }],
    'model.pickFile': [{ params: { filter: '*.gguf' }, mentions: 'filter' }],
    'chats.list': [{ params: { all: true }, mentions: 'all' }],
    'chats.create': [{ params: { title: '' }, mentions: 'title' }, { params: { title: 7 }, mentions: 'title' }],
    'chats.rename': [{ params: { chatId: 'c1', title: '   ' }, mentions: 'title' }, { params: { title: 'x' }, mentions: 'chatId' }],
    'chats.delete': [{ params: {}, mentions: 'chatId' }, { params: { chatId: '../etc' }, mentions: 'chatId' }],
    'chats.open': [{ params: { chatId: 'a b' }, mentions: 'chatId' }],
    'chats.settings': [{ params: {}, mentions: 'chatId' }],
    'chats.updateSettings': [
        { params: { chatId: 'c1', sampling: { temperature: -1 } }, mentions: 'sampling.temperature' },
        { params: { chatId: 'c1', sampling: { topK: 2.5 } }, mentions: 'sampling.topK' },
        { params: { chatId: 'c1', sampling: { seed: 1 } }, mentions: 'seed' },
        { params: { chatId: 'c1', systemPrompt: 5 }, mentions: 'systemPrompt' },
    ],
    'chats.search': [{ params: {}, mentions: 'query' }, { params: { query: 'x'.repeat(501) }, mentions: 'query' }],
    'chats.export': [{ params: { chatId: '' }, mentions: 'chatId' }],
    'app.dataLocations': [{ params: { kind: 'chats' }, mentions: 'kind' }],
    'app.openFolder': [{ params: { kind: '/etc' }, mentions: 'kind' }, { params: { path: '/etc' }, mentions: 'path' }],
    'documents.add': [
        { params: { chatId: 'c1', uploadId: 'u1', name: '', dataBase64: '' }, mentions: 'name' },
        { params: { chatId: 'c1', name: 'a.pdf', dataBase64: '' }, mentions: 'uploadId' },
        { params: { chatId: 'c1', uploadId: 'u1', name: 'a.pdf', dataBase64: 5 }, mentions: 'dataBase64' },
    ],
    'documents.remove': [{ params: { id: 'd1' }, mentions: 'documentId' }],
    'chat.send': [
        { params: {}, mentions: 'chatId' },
        { params: { chatId: 'c1', prompt: '' }, mentions: 'prompt' },
        { params: { chatId: 'c1', prompt: 'hi', history: [] }, mentions: 'history' },
    ],
    'chat.regenerate': [{ params: { chatId: 5 }, mentions: 'chatId' }],
    'chat.edit': [{ params: { messageId: 'm1', text: '' }, mentions: 'text' }, { params: { text: 'x' }, mentions: 'messageId' }],
    'chat.stop': [{ params: { chatId: 7 }, mentions: 'chatId' }, { params: { all: true }, mentions: 'all' }],
    'memory.stats': [{ params: { every: 1 }, mentions: 'every' }],
    'memory.plan': [
        { params: {}, mentions: 'path' },
        { params: { path: '/m.gguf', contextSize: 1024 }, mentions: 'contextSize' },
        { params: { path: '/m.gguf', overrides: { contextSize: 0 } }, mentions: 'overrides.contextSize' },
        { params: { path: '/m.gguf', overrides: { kvCacheType: 'q5_1' } }, mentions: 'overrides.kvCacheType' },
    ],
    'memory.fit': [
        { params: { goal: 'context' }, mentions: 'path' },
        { params: { path: '/m.gguf', goal: 'speed' }, mentions: 'goal' },
        { params: { path: '/m.gguf', goal: 'context', request: {} }, mentions: 'request' },
    ],
    'settings.get': [{ params: { key: 'theme' }, mentions: 'key' }],
    'settings.update': [{ params: 'dark', mentions: 'must be an object' }, { params: [1], mentions: 'must be an object' }],
    'models.list': [{ params: { folder: '/tmp' }, mentions: 'folder' }],
    'models.catalog': [{ params: { refresh: true }, mentions: 'refresh' }],
    'models.download': [
        { params: {}, mentions: 'source' },
        { params: { source: '   ' }, mentions: 'source' },
        { params: { source: 'hf:a/b:Q4_K_M', sha256: 'abc' }, mentions: 'sha256' },
        { params: { source: 'hf:a/b:Q4_K_M', into: '/etc' }, mentions: 'into' },
    ],
    'models.cancelDownload': [{ params: {}, mentions: 'id' }, { params: { id: '../x' }, mentions: 'id' }],
    'models.downloads': [{ params: { all: true }, mentions: 'all' }],
    'kv.profile': malformedProfile,
    'kv.profileEstimate': malformedProfileEstimate,
    'kv.testRecall': [
        { params: { lengths: [] }, mentions: 'lengths' },
        { params: { lengths: [64] }, mentions: 'lengths.0' },
        { params: { depths: [1.5] }, mentions: 'depths.0' },
        { params: { load: { path: '/m.gguf' } }, mentions: 'load' },
    ],
    'kv.cancel': [{ params: { job: 'profile' }, mentions: 'job' }],
};

// The same for the engine host's contract.
const malformedHost: Record<keyof typeof hostRequests, Cases> = {
    'model.load': [
        { params: {}, mentions: 'path' },
        { params: { path: '' }, mentions: 'path' },
        { params: { path: '/m.gguf', contextSize: -5 }, mentions: 'contextSize' },
        { params: { path: '/m.gguf', contextSize: 1.5 }, mentions: 'contextSize' },
        { params: { path: '/m.gguf', gpuLayers: 'all' }, mentions: 'gpuLayers' },
        { params: { path: '/m.gguf', kv: { mode: 'half' } }, mentions: 'kv.mode' },
        { params: { path: '/m.gguf', kv: { mode: 'budget', budget: 1.5 } }, mentions: 'kv.budget' },
        { params: { path: '/m.gguf', kv: { mode: 'budget', offload: 'disk' } }, mentions: 'kv.offload' },
        // the rules between fields, the settings panel's, at the engine host's door too
        { params: { path: '/m.gguf', contextSize: 1024, kv: { mode: 'budget', budget: 0.5, window: 1024 } }, mentions: 'kv.window' },
        { params: { path: '/m.gguf', contextSize: 1024, kv: { mode: 'auto', sinks: 100, window: 1000 } }, mentions: 'kv.sinks' },
        { params: { path: '/m.gguf', kvCacheType: 'q8_0', flashAttention: 'off' }, mentions: 'kvCacheType' },
    ],
    'model.unload': [{ params: { now: true }, mentions: 'now' }],
    'model.loaded': [{ params: { path: '/m.gguf' }, mentions: 'path' }],
    'model.countTokens': [{ params: { texts: 'abc' }, mentions: 'texts' }],
    'generate.run': [
        { params: {}, mentions: 'generationId' },
        { params: { generationId: 'g', documents: [], history: [], prompt: '' }, mentions: 'prompt' },
        { params: { generationId: 'g', documents: [], history: 'none', prompt: 'hi' }, mentions: 'history' },
        { params: { generationId: 'g', documents: [], history: [{ role: 'system', text: 'x' }], prompt: 'hi' }, mentions: 'history.0.role' },
        { params: { generationId: 'g', documents: [], history: [{ role: 'user' }], prompt: 'hi' }, mentions: 'history.0.text' },
        { params: { generationId: 'bad id with spaces', documents: [], history: [], prompt: 'hi' }, mentions: 'generationId' },
        { params: { generationId: 'g', documents: [], history: [], prompt: 'hi', maxTokens: 0 }, mentions: 'maxTokens' },
        { params: { generationId: 'g', documents: [{ name: 'a' }], history: [], prompt: 'hi' }, mentions: 'documents.0.text' },
        { params: { generationId: 'g', documents: [], history: [], prompt: 'hi', snapshot: { file: '' , restore: true } }, mentions: 'snapshot.file' },
    ],
    'generate.stop': [{ params: { generationId: 7 }, mentions: 'generationId' }],
    'engine.kvStats': [{ params: { layer: 1 }, mentions: 'layer' }],
    'memory.stats': [{ params: { every: 1 }, mentions: 'every' }],
    'memory.plan': [
        { params: {}, mentions: 'path' },
        { params: { path: '/m.gguf', contextSize: 0 }, mentions: 'contextSize' },
        { params: { path: '/m.gguf', contextSize: 1024, kv: { mode: 'budget', budget: 1.5 } }, mentions: 'kv.budget' },
        { params: { path: '/m.gguf', contextSize: 1024, kv: { mode: 'squeeze' } }, mentions: 'kv.mode' },
        { params: { path: '/m.gguf', contextSize: 1024, kvCacheType: 'q5_1' }, mentions: 'kvCacheType' },
    ],
    'memory.fit': [
        { params: { goal: 'context' }, mentions: 'request' },
        { params: { request: { path: '/m.gguf', contextSize: 1024 }, goal: 'speed' }, mentions: 'goal' },
    ],
    'memory.fitPublished': [
        { params: { models: [], kv: { mode: 'squeeze' } }, mentions: 'kv.mode' },
        { params: { models: [{ id: 'x', architecture: 'llama', sizeBytes: 1, layers: 0 }], kv: { mode: 'off' } }, mentions: 'models.0.layers' },
    ],
    'kv.profileEstimate': malformedProfileEstimate,
    'kv.profile': malformedProfile,
    'recall.run': [
        { params: {}, mentions: 'load' },
        { params: { load: { path: '' } }, mentions: 'load.path' },
        { params: { load: { path: '/m.gguf' }, depths: [-1] }, mentions: 'depths.0' },
    ],
};

const boundaries = [
    { name: 'window → backend', contract: uiContract as Contract, malformed: malformedUi as Record<string, Cases> },
    { name: 'backend → engine host', contract: hostContract as Contract, malformed: malformedHost as Record<string, Cases> },
];

describe('IPC contracts', () => {
    for (const { name, contract, malformed } of boundaries) {
        test(`${name}: every request type has malformed cases here`, () => {
            assert.deepEqual(Object.keys(malformed).sort(), Object.keys(contract.requests).sort());
        });

        for (const [method, cases] of Object.entries(malformed)) {
            test(`${name} ${method}: malformed params are refused with a clear error`, async () => {
                for (const [index, { params, mentions }] of cases.entries()) {
                    const response = await dispatch(contract, untouchableHandlers(contract), { type: 'request', id: index, method, params });
                    assert.equal(response.ok, false, `case ${index} was accepted`);
                    if (response.ok) continue;
                    assert.equal(response.id, index);
                    assert.equal(response.error.code, 'BAD_REQUEST');
                    assert.match(response.error.message, new RegExp(`^Invalid parameters for ${method.replace('.', '\\.')}: `));
                    assert.ok(response.error.message.includes(mentions), `"${response.error.message}" should mention ${mentions}`);
                }
            });
        }
    }

    test('a method of one side is unknown on the other, never "not available"', async () => {
        const hostOnly = Object.keys(hostRequests).filter((method) => !Object.hasOwn(uiRequests, method));
        assert.deepEqual(hostOnly.sort(), ['generate.run', 'generate.stop', 'memory.fitPublished', 'model.countTokens', 'model.loaded', 'recall.run']);
        for (const method of hostOnly) {
            const response = await dispatch(uiContract, untouchableHandlers(uiContract), { type: 'request', id: 1, method, params: {} });
            assert.deepEqual(response.ok ? null : response.error, { code: 'UNKNOWN_METHOD', message: `Unknown method "${method}".` }, method);
        }
        const uiOnly = Object.keys(uiRequests).filter((method) => !Object.hasOwn(hostRequests, method));
        for (const method of uiOnly) {
            const response = await dispatch(hostContract, untouchableHandlers(hostContract), { type: 'request', id: 1, method, params: {} });
            assert.equal(response.ok ? null : response.error.code, 'UNKNOWN_METHOD', method);
        }
    });

    test('malformed envelopes and unknown methods are refused, never thrown', async () => {
        const handlers = untouchableHandlers(uiContract);
        for (const raw of [null, 42, 'hello', [], {}, { type: 'request' }, { type: 'request', id: -1, method: 'chat.send' }, { type: 'response', id: 1, method: 'x' }]) {
            const response = await dispatch(uiContract, handlers, raw);
            assert.equal(response.ok, false);
            if (!response.ok) {
                assert.equal(response.error.code, 'BAD_REQUEST');
                assert.match(response.error.message, /^Malformed request: /);
            }
        }
        const unknown = await dispatch(uiContract, handlers, { type: 'request', id: 3, method: 'fs.readFile', params: { path: '/etc/passwd' } });
        assert.deepEqual(unknown, { type: 'response', id: 3, ok: false, error: { code: 'UNKNOWN_METHOD', message: 'Unknown method "fs.readFile".' } });
        for (const method of ['constructor', '__proto__', 'toString']) {
            const inherited = await dispatch(uiContract, handlers, { type: 'request', id: 4, method, params: {} });
            assert.equal(inherited.ok ? 'ok' : inherited.error.code, 'UNKNOWN_METHOD', method);
        }
    });

    test('a valid request reaches its handler with parsed params, and handler errors come back typed', async () => {
        let received: unknown = null;
        const handlers: Partial<Handlers<typeof hostRequests>> = {
            'model.load': async (params) => {
                received = params;
                throw new HeadroomError('MODEL_LOAD_FAILED', 'No model file at /m.gguf.');
            },
            'generate.stop': async () => {
                throw new TypeError("Cannot read properties of undefined (reading 'architecture')");
            },
        };
        const load = await dispatch(hostContract, handlers, { type: 'request', id: 1, method: 'model.load', params: { path: '/m.gguf', contextSize: 2048 } });
        assert.deepEqual(received, { path: '/m.gguf', contextSize: 2048 });
        assert.deepEqual(load, { type: 'response', id: 1, ok: false, error: { code: 'MODEL_LOAD_FAILED', message: 'No model file at /m.gguf.' } });
        const stop = await dispatch(hostContract, handlers, { type: 'request', id: 2, method: 'generate.stop', params: {} });
        // A bug's own text is logged, never shown: the person gets a sentence.
        assert.deepEqual(stop, { type: 'response', id: 2, ok: false, error: { code: 'INTERNAL', message: UNEXPECTED_ERROR } });
        // A method this side's contract has but this server does not serve (the file picker in a browser).
        const missing = await dispatch(uiContract, {}, { type: 'request', id: 3, method: 'model.pickFile', params: {} });
        assert.equal(missing.ok ? 'ok' : missing.error.code, 'NOT_AVAILABLE');
    });

    test('a refusal names the field at fault, and the client\'s error carries it', async () => {
        const response = await dispatch(hostContract, untouchableHandlers(hostContract), { type: 'request', id: 7, method: 'model.load', params: { path: '/m.gguf', kv: { mode: 'budget', budget: 1.5 } } });
        assert.equal(response.ok ? null : response.error.field, 'kv.budget');
        const rule = await dispatch(hostContract, untouchableHandlers(hostContract), { type: 'request', id: 8, method: 'model.load', params: { path: '/m.gguf', contextSize: 1024, kv: { mode: 'budget', budget: 0.5, window: 2048 } } });
        assert.deepEqual(rule.ok ? null : rule.error, {
            code: 'BAD_REQUEST', field: 'kv.window',
            message: 'Invalid parameters for model.load: kv.window: The window (2048 tokens) must be smaller than the context (1024 tokens); kv.sinks: Sinks plus window must fit in the context.',
        });
        const client = new RpcClient(uiContract, () => {});
        const pending = client.request('model.load', { path: '/m.gguf' });
        client.receive({ type: 'response', id: 1, ok: false, error: { code: 'INVALID_SETTINGS', message: 'Window: too big.', field: 'window' } });
        await assert.rejects(pending, (error: HeadroomError) => error.code === 'INVALID_SETTINGS' && error.field === 'window');
    });

    test('budget mode without a budget is refused at the boundary', async () => {
        const response = await dispatch(hostContract, untouchableHandlers(hostContract), { type: 'request', id: 8, method: 'memory.plan', params: { path: '/m.gguf', contextSize: 1024, kv: { mode: 'budget' } } });
        assert.equal(response.ok, false);
        if (!response.ok) assert.match(response.error.message, /kv\.budget: KV mode "budget" needs a budget between 0 and 1/);
    });

    test('each event is checked against its own schema, picked by its name', () => {
        const client = new RpcClient(uiContract, () => {});
        const seen: string[] = [];
        client.onEvent((event) => {
            // The name narrows the payload: no casts.
            if (event.name === 'model.loadProgress') seen.push(`${event.name} ${event.payload.progress}`);
            else seen.push(event.name);
        });
        client.receive({ type: 'event', name: 'model.loadProgress', payload: { path: '/m.gguf', progress: 0.5 } });
        client.receive({ type: 'event', name: 'model.loadProgress', payload: { generationId: 'g1', text: 'a chunk under the wrong name' } });
        client.receive({ type: 'event', name: 'chats.changed', payload: { chatId: null } });
        // An engine host's own event never reaches a window.
        client.receive({ type: 'event', name: 'host.ready', payload: { pid: 1 } });
        assert.deepEqual(seen, ['model.loadProgress 0.5', 'chats.changed']);
    });

    test('the client validates results and events, and drops malformed ones', async () => {
        const sent: unknown[] = [];
        const client = new RpcClient(uiContract, (envelope) => sent.push(envelope));
        const chunks: string[] = [];
        client.on('chat.chunk', ({ text }) => chunks.push(text));

        const stop = client.request('chat.stop', {});
        const stopId = (sent[0] as { id: number }).id;
        client.receive({ type: 'response', id: stopId, ok: true, result: { stopped: 'yes' } });
        await assert.rejects(stop, (error: HeadroomError) => error.code === 'INTERNAL' && /Invalid chat\.stop result: stopped/.test(error.message));

        client.receive({ type: 'event', name: 'chat.chunk', payload: { generationId: 'g1', text: 'Hel' } });
        client.receive({ type: 'event', name: 'chat.chunk', payload: { generationId: 'g1', text: 42 } });
        client.receive({ type: 'event', name: 'chat.chunk', payload: { generationId: 'g1', text: 'lo' } });
        client.receive({ type: 'event', name: 'no.such.event', payload: {} });
        client.receive('garbage');
        assert.deepEqual(chunks, ['Hel', 'lo']);

        const state = client.request('engine.getState', {});
        client.failAll('ENGINE_CRASHED', 'The engine stopped.');
        await assert.rejects(state, (error: HeadroomError) => error.code === 'ENGINE_CRASHED');
        assert.equal(client.pendingCount, 0);
    });
});
