// Hostile inputs, replayed against the real thing: `npm run serve` with a model loaded, its
// engine host, the document readers and the SQLite database. Each input must end in a clear
// refusal (a sentence, no library or runtime text) and leave everything as it was: the server
// answering, the model loaded, the chats intact, PRAGMA integrity_check ok. The suite counts
// what it tried and what was handled, and prints both.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, open, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import type { EventEnvelope } from '../common/contract.ts';
import { HeadroomError } from '../common/errors.ts';
import { RpcClient } from '../common/rpc.ts';
import { uiContract } from '../common/uiContract.ts';
import { DATABASE_FILE } from '../backend/backend.ts';
import { extractInWorker, spawnWorkerThreadExtractor } from '../backend/documents/extractInWorker.ts';
import { openBackend } from './support/backend.ts';
import { launchChromium } from './support/browser.ts';
import { startHarness } from './support/componentHarness.ts';
import { makePdf } from './support/documents.ts';
import { htmlPage } from '../bench/extractSpeed.ts';
import { MAX_CHAT_DOCUMENTS } from '../common/contract.ts';
import { UNREADABLE_WARNINGS } from '../backend/database.ts';
import { LOCK_FILE } from '../backend/instanceLock.ts';
import { startModelServer } from './support/modelServer.ts';
import { chatModelForTests, ORGANISM, STORIES } from './support/models.ts';
import { serve, stop, type Served } from './support/serve.ts';
import {
    badEscapeEpub, brokenXmlDocx, craftedGgufs, docxBomb, epubBomb, impossibleHyperparameters, rawRequest, rawSocket, rewriteGguf, spineAmplificationEpub, wsFrame,
} from './support/hostileInputs.ts';

// What must never reach a person: runtime, library and validator text.
const RAW_TEXT = /TypeError|ReferenceError|RangeError|Cannot read propert|\(reading '|URI malformed|Too big:|Too small:|Invalid input|expected (string|number|object)|xmldom|ENOENT|EACCES|EISDIR|\.(ts|js|mjs):\d+|ZodError|Unexpected token|JSON at position|undefined|\[object Object\]/;

/** A refusal a user can read: one or more sentences, none of the text above. */
function assertPlain(message: string, what: string): void {
    assert.ok(message.length >= 12, `${what}: "${message}" is too short to explain anything`);
    assert.match(message, /^[A-Z"\w]/, `${what}: "${message}" does not start a sentence`);
    assert.match(message, /[.!?]$/, `${what}: "${message}" does not end a sentence`);
    assert.doesNotMatch(message, RAW_TEXT, `${what}: "${message}" shows internals`);
}

const results = fileURLToPath(new URL('../test-results/', import.meta.url));
await mkdir(results, { recursive: true });

const tally = { tried: 0, handled: 0 };

/** Tries every input, counting them, and fails the test with every input that was not handled. */
async function each<T>(inputs: readonly T[], label: (input: T) => string, handle: (input: T) => Promise<void>): Promise<void> {
    const failures: string[] = [];
    for (const input of inputs) {
        tally.tried++;
        try {
            await handle(input);
            tally.handled++;
        } catch (error) {
            failures.push(`${label(input)}: ${error instanceof Error ? error.message : String(error)}`);
        }
    }
    assert.deepEqual(failures, []);
}

/** The contract over the real socket, as the window speaks it. */
async function connect(served: Served) {
    const ws = new WebSocket(`${served.origin.replace('http', 'ws')}/rpc?token=${served.token}`);
    const client = new RpcClient(uiContract, (envelope) => ws.send(JSON.stringify(envelope)));
    const events: EventEnvelope[] = [];
    client.onEvent((event) => events.push(event));
    ws.on('message', (data: Buffer) => client.receive(JSON.parse(data.toString('utf8'))));
    ws.on('close', () => client.failAll('ENGINE_UNAVAILABLE', 'The socket closed.'));
    await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
    });
    return { ws, client, events, close: () => ws.close() };
}

async function refusal(promise: Promise<unknown>, what: string): Promise<HeadroomError> {
    try {
        await promise;
    } catch (error) {
        assert.ok(error instanceof HeadroomError, `${what}: not a HeadroomError (${String(error)})`);
        assertPlain(error.message, what);
        return error;
    }
    assert.fail(`${what} was accepted`);
}

/** `promise`, or a failure naming `what` when it has not settled after `ms` (a request that never answers). */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms / 1000} s`)), ms);
    });
    try {
        return await Promise.race([promise, late]);
    } finally {
        clearTimeout(timer);
    }
}

const until = async (predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await predicate())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
};

after(() => {
    console.log(`hostile inputs: ${tally.tried} tried, ${tally.handled} handled`);
});

describe('hostile inputs against npm run serve', () => {
    let served: Served;
    let dataDir: string;
    let model: string;
    let rpc: Awaited<ReturnType<typeof connect>>;
    let chatId: string;
    let port: number;
    let profileDir: string;

    before(async () => {
        model = await chatModelForTests();
        dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-hostile-'));
        profileDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-hostile-profiles-'));
        served = await serve(['--model', model, '--port', '0', '--context', '1024', '--data-dir', dataDir], { HEADROOM_PROFILE_DIR: profileDir });
        port = Number(new URL(served.origin).port);
        rpc = await connect(served);
        await until(async () => (await rpc.client.request('engine.getState', {})).status === 'ready', 'the model to load');
        chatId = (await rpc.client.request('chats.create', { title: 'Kept' })).id;
        await rpc.client.request('documents.add', { chatId, uploadId: 'keep', name: 'notes.md', dataBase64: Buffer.from('# Notes\n\nThe passcode is 4711.').toString('base64') });
    });

    after(async () => {
        rpc?.close();
        if (served != null) await stop(served.child);
    });

    /** Everything a hostile input must leave as it was. */
    async function unchanged(what: string): Promise<void> {
        assert.equal((await fetch(served.url)).status, 200, `${what}: the server answers`);
        const state = await rpc.client.request('engine.getState', {});
        assert.equal(state.model?.path, model, `${what}: the model is still loaded`);
        assert.ok(state.status === 'ready' || state.status === 'generating', `${what}: the engine is usable (${state.status})`);
        const view = await rpc.client.request('chats.open', { chatId });
        assert.deepEqual(view.documents.map((d) => d.name), ['notes.md'], `${what}: the chat keeps its document`);
        const db = new DatabaseSync(path.join(dataDir, DATABASE_FILE), { readOnly: true });
        try {
            assert.equal((db.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check, 'ok', `${what}: integrity_check`);
        } finally {
            db.close();
        }
    }

    test('malformed request lines, escapes, hosts, methods, tokens and traversal get 4xx; the server stays up', async () => {
        const cookie = `Cookie: headroom_token_${port}=${served.token}\r\n`;
        const host = `Host: 127.0.0.1:${port}\r\n`;
        const upgrade = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
        const cases: Array<[string, string, number]> = [
            ['unparsable URL', `GET http://[ HTTP/1.1\r\n${host}\r\n`, 400],
            ['unparsable URL on an upgrade', `GET http://[ HTTP/1.1\r\n${host}${upgrade}\r\n`, 400],
            ['bad percent escape with the cookie', `GET /%E0%A4%A HTTP/1.1\r\n${host}${cookie}\r\n`, 400],
            ['NUL in the path', `GET /index.html%00.js HTTP/1.1\r\n${host}${cookie}\r\n`, 400],
            ['not HTTP at all', 'HELLO THERE\r\n\r\n', 400],
            ['a header over 16 KB', `GET / HTTP/1.1\r\n${host}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
            ['foreign Host', `GET /?token=${served.token} HTTP/1.1\r\nHost: evil.example\r\n\r\n`, 403],
            ['Host without the port', `GET /?token=${served.token} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, 403],
            ['localhost on another port', `GET /?token=${served.token} HTTP/1.1\r\nHost: localhost:1\r\n\r\n`, 403],
            ['no Host', `GET /?token=${served.token} HTTP/1.0\r\n\r\n`, 403],
            ['no token', `GET / HTTP/1.1\r\n${host}\r\n`, 401],
            ['a wrong token', `GET /?token=wrong HTTP/1.1\r\n${host}\r\n`, 401],
            ['the token plus one character', `GET /?token=${served.token}x HTTP/1.1\r\n${host}\r\n`, 401],
            ['another port\'s cookie name', `GET / HTTP/1.1\r\n${host}Cookie: headroom_token=${served.token}\r\n\r\n`, 401],
            ['POST', `POST / HTTP/1.1\r\n${host}${cookie}Content-Length: 0\r\n\r\n`, 405],
            ['DELETE', `DELETE /index.html HTTP/1.1\r\n${host}${cookie}\r\n`, 405],
            ['../ traversal', `GET /../package.json HTTP/1.1\r\n${host}${cookie}\r\n`, 404],
            ['%2e%2e traversal', `GET /%2e%2e/package.json HTTP/1.1\r\n${host}${cookie}\r\n`, 404],
            ['%2f traversal', `GET /..%2fpackage.json HTTP/1.1\r\n${host}${cookie}\r\n`, 404],
            ['nested traversal', `GET /assets/..%2f..%2f..%2fserver%2fserve.ts HTTP/1.1\r\n${host}${cookie}\r\n`, 404],
            ['backslash traversal', `GET /..%5c..%5cpackage.json HTTP/1.1\r\n${host}${cookie}\r\n`, 404],
            ['absolute path', `GET //etc/passwd HTTP/1.1\r\n${host}${cookie}\r\n`, 404],
            ['socket with a foreign Origin', `GET /rpc?token=${served.token} HTTP/1.1\r\n${host}Origin: http://evil.example\r\n${upgrade}\r\n`, 401],
            ['socket with Origin null', `GET /rpc?token=${served.token} HTTP/1.1\r\n${host}Origin: null\r\n${upgrade}\r\n`, 401],
            ['socket without the token', `GET /rpc HTTP/1.1\r\n${host}${upgrade}\r\n`, 401],
            ['socket on another path', `GET /other?token=${served.token} HTTP/1.1\r\n${host}${upgrade}\r\n`, 401],
        ];
        await each(cases, ([what]) => what, async ([what, request, status]) => {
            assert.equal(await rawRequest(port, request), status, what);
            assert.equal((await fetch(served.url)).status, 200, `${what}: the server still answers`);
        });
        assert.match(served.stderrText(), /refused a malformed request/, 'malformed requests are logged');
        await unchanged('after the malformed requests');
    });

    test('WebSocket frames over the limit, not UTF-8, binary or not JSON: the socket closes or is answered, the server stays up', async () => {
        const request = (method: string, params: unknown) => Buffer.from(JSON.stringify({ type: 'request', id: 9, method, params }));
        const cases: Array<{ what: string; frame: Buffer; expect: (answer: { closeCode: number | null; texts: string[] }) => void }> = [
            { what: 'a frame claiming 200 MB (a 72 MB file as base64)', frame: wsFrame(1, Buffer.from('{"type":'), 200n * 1024n * 1024n), expect: ({ closeCode }) => assert.equal(closeCode, 1009) },
            { what: 'a text frame with invalid UTF-8', frame: wsFrame(1, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), expect: ({ closeCode }) => assert.equal(closeCode, 1007) },
            { what: 'a frame with a reserved opcode', frame: wsFrame(3, Buffer.from('x')), expect: ({ closeCode }) => assert.equal(closeCode, 1002) },
            ...[
                ['a binary frame', wsFrame(2, request('chats.list', {}))],
                ['text that is not JSON', wsFrame(1, Buffer.from('hello'))],
                ['JSON that is not a request', wsFrame(1, Buffer.from('[1,2,3]'))],
                ['an unknown method', wsFrame(1, request('fs.readFile', { path: '/etc/passwd' }))],
                ['an inherited method name', wsFrame(1, request('__proto__', {}))],
                ['params with __proto__', wsFrame(1, request('chats.create', JSON.parse('{"__proto__":{"admin":true},"title":"x"}')))],
                ['a chat id that walks folders', wsFrame(1, request('chats.open', { chatId: '../../etc' }))],
                ['an empty prompt', wsFrame(1, request('chat.send', { chatId: 'c1', prompt: '' }))],
                ['generation asked of the backend', wsFrame(1, request('generate.run', { generationId: 'g', documents: [], history: [], prompt: 'hi' }))],
                ['a settings value of the wrong type', wsFrame(1, request('settings.update', { contextSize: 'huge' }))],
            ].map(([what, frame]) => ({
                what: what as string,
                frame: frame as Buffer,
                expect: ({ texts }: { texts: string[] }) => {
                    const response = texts.map((t) => JSON.parse(t) as { type: string; ok?: boolean; error?: { message: string } }).find((m) => m.type === 'response');
                    assert.ok(response != null && response.ok === false && response.error != null, 'answered with a refusal');
                    assertPlain(response.error.message, what as string);
                },
            })),
        ];
        await each(cases, (c) => c.what, async ({ what, frame, expect }) => {
            expect(await rawSocket(port, served.token, frame));
            assert.equal((await fetch(served.url)).status, 200, `${what}: the server still answers`);
        });
        assert.match(served.stderrText(), /closed a WebSocket: WS_ERR_UNSUPPORTED_MESSAGE_LENGTH/);
        await unchanged('after the malformed frames');
    });

    test('in the window: the token leaves the address bar, a reload gets in by the cookie, a 65 MB file is refused before upload', async () => {
        const browser = await launchChromium();
        try {
            const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
            await page.goto(served.url);
            await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).waitFor({ timeout: 60_000 });
            await each(['the token in the address', 'a reload without the token'], (what) => what, async (what) => {
                if (what === 'a reload without the token') {
                    await page.reload();
                    await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).waitFor({ timeout: 60_000 });
                }
                assert.doesNotMatch(page.url(), /token/, `${what}: the address bar holds no token`);
                assert.equal(await page.getByText('Lost the connection').count(), 0);
            });
            const closedBefore = (served.stderrText().match(/closed a WebSocket/g) ?? []).length;
            await each(['a 65 MB file dropped on the window'], (what) => what, async () => {
                await page.evaluate(() => {
                    const transfer = new DataTransfer();
                    transfer.items.add(new File([new Uint8Array(65 * 1024 * 1024)], 'scan.pdf', { type: 'application/pdf' }));
                    const target = document.querySelector('.app');
                    if (target == null) throw new Error('the app is not on the page');
                    target.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
                    target.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
                });
                const error = page.getByTestId('chat-error');
                await error.filter({ hasText: 'scan.pdf (65 MB) is larger than the 64 MB Headroom reads' }).waitFor();
                assertPlain(await error.locator('span').textContent() ?? '', 'the size refusal');
                assert.equal(await page.getByTestId('upload').count(), 0, 'nothing was uploaded');
                assert.equal((served.stderrText().match(/closed a WebSocket/g) ?? []).length, closedBefore, 'the socket was never overloaded');
                await page.screenshot({ path: path.join(results, 'hostile-too-large.png') });
            });
        } finally {
            await browser.close();
        }
        await unchanged('after the window');
    });

    test('bad model files are refused before the loaded model is touched, and quickly', async () => {
        const dir = await mkdtemp(path.join(os.tmpdir(), 'headroom-hostile-models-'));
        const files: Array<{ name: string; file: string }> = [
            { name: 'a missing file', file: path.join(dir, 'missing.gguf') },
            { name: 'a folder', file: dir },
            { name: '/dev/zero', file: '/dev/zero' },
        ];
        for (const { name, bytes } of craftedGgufs()) {
            await writeFile(path.join(dir, name), bytes);
            files.push({ name, file: path.join(dir, name) });
        }
        // Hyperparameters llama.cpp aborts on, and a chat template that never ends: refused by name, with the field.
        const named: Array<{ name: string; needs: RegExp }> = [];
        for (const { name, field, bytes } of impossibleHyperparameters(await readFile(STORIES))) {
            await writeFile(path.join(dir, name), bytes);
            files.push({ name, file: path.join(dir, name) });
            named.push({ name, needs: new RegExp(`^Could not load ${name.replace(/[.^$]/g, '\\$&')}: its metadata field ${field.replace(/\./g, '\\.')} is `) });
        }
        const looping = 'looping-template.gguf';
        await writeFile(path.join(dir, looping), rewriteGguf(await readFile(STORIES), { 'tokenizer.chat_template': '{% for i in range(100000000) %}{{ i }}{% endfor %}' }));
        files.push({ name: looping, file: path.join(dir, looping) });
        named.push({ name: looping, needs: /^Could not load looping-template\.gguf: the model file's chat template \(tokenizer\.chat_template\) (needed more than|did not finish)/ });
        const truncated = path.join(dir, 'truncated.gguf');
        await copyFile(model, truncated);
        const handle = await open(truncated, 'r+');
        await handle.truncate(Math.floor((await handle.stat()).size / 2));
        await handle.close();
        files.push({ name: 'a model cut in half', file: truncated });
        const pid = (await rpc.client.request('engine.getState', {})).pid;

        await each(files, (f) => f.name, async ({ name, file }) => {
            const started = performance.now();
            const load = await refusal(rpc.client.request('model.load', { path: file, overrides: { contextSize: 1024 } }), `model.load ${name}`);
            assert.ok(['NOT_FOUND', 'MODEL_LOAD_FAILED'].includes(load.code), `${name}: ${load.code}`);
            const words = named.find((n) => n.name === name);
            if (words != null) assert.match(load.message, words.needs, `${name}: names the file and what is wrong with it`);
            // A plan never runs the chat template: only the looping template's file may be planned.
            const plan = rpc.client.request('memory.plan', { path: file, overrides: { contextSize: 1024, gpuLayers: 0, kvMode: 'off' } });
            if (name === looping) await plan;
            else await refusal(plan, `memory.plan ${name}`);
            assert.ok(performance.now() - started < 10_000, `${name}: refused in ${Math.round(performance.now() - started)} ms`);
            const state = await rpc.client.request('engine.getState', {});
            assert.equal(state.model?.path, model, `${name}: the model that works is still loaded`);
            assert.equal(state.pid, pid, `${name}: the engine host was never restarted`);
        });
        await unchanged('after the bad model files');
    });

    test('a download never writes over or deletes the user\'s model of the same name; a redirect loop is said as one', async () => {
        const folder = await mkdtemp(path.join(os.tmpdir(), 'headroom-hostile-models-folder-'));
        const victim = path.join(folder, 'victim.gguf');
        await copyFile(ORGANISM, victim);
        const victimSha = createHash('sha256').update(await readFile(victim)).digest('hex');
        const server = await startModelServer();
        try {
            server.route('/page/victim.gguf', { status: 200, body: '<!DOCTYPE html><html><body>Sign in to download</body></html>' });
            server.route('/wrong/victim.gguf', { file: STORIES });
            server.route('/good/victim.gguf', { file: STORIES });
            server.route('/loop/a.gguf', { status: 302, headers: { location: '/loop/b.gguf' } });
            server.route('/loop/b.gguf', { status: 302, headers: { location: '/loop/a.gguf' } });
            await rpc.client.request('settings.update', { modelsFolder: folder });
            const finished = async (source: string, sha256?: string) => {
                const started = await rpc.client.request('models.download', { source, ...(sha256 != null ? { sha256 } : {}) });
                await until(async () => (await rpc.client.request('models.downloads', {})).some((d) => d.id === started.id && ['done', 'failed', 'cancelled'].includes(d.status)), `the download of ${source}`);
                const state = (await rpc.client.request('models.downloads', {})).find((d) => d.id === started.id);
                assert.ok(state != null);
                return state;
            };
            const cases: Array<{ what: string; source: string; sha256?: string; error: RegExp }> = [
                { what: 'a web page under the model\'s name', source: server.url('/page/victim.gguf'), error: /victim\.gguf is not a GGUF model .*; the downloaded file was deleted \(the victim\.gguf already in the models folder was left as it was\)\.$/ },
                { what: 'a wrong sha256 under the model\'s name', source: server.url('/wrong/victim.gguf'), sha256: '0'.repeat(64), error: /its sha256 is [0-9a-f]{64}, not the expected 0{64}; the downloaded file was deleted \(the victim\.gguf already in the models folder was left as it was\)\.$/ },
                { what: 'an address that redirects for ever', source: server.url('/loop/a.gguf'), error: /\/loop\/a\.gguf redirects in a loop \(more than 20 redirects without reaching a file\); the address is wrong or the server is misconfigured\.$/ },
            ];
            await each(cases, (c) => c.what, async ({ what, source, sha256, error }) => {
                const state = await finished(source, sha256);
                assert.equal(state.status, 'failed', what);
                assert.match(state.error ?? '', error, what);
                assertPlain(state.error ?? '', what);
                assert.equal(createHash('sha256').update(await readFile(victim)).digest('hex'), victimSha, `${what}: victim.gguf is untouched`);
                assert.deepEqual(await readdir(folder), ['victim.gguf'], `${what}: nothing else is left in the folder`);
            });
            await each(['a good model under a taken name'], (what) => what, async (what) => {
                const state = await finished(server.url('/good/victim.gguf'));
                assert.equal(state.status, 'done', `${what}: ${state.error ?? ''}`);
                assert.equal(state.path, path.join(folder, 'victim (2).gguf'));
                assert.equal(createHash('sha256').update(await readFile(victim)).digest('hex'), victimSha, `${what}: victim.gguf is untouched`);
                assert.deepEqual((await readdir(folder)).sort(), ['victim (2).gguf', 'victim.gguf']);
            });
        } finally {
            await server.close();
            await rpc.client.request('settings.update', { modelsFolder: null });
        }
        await unchanged('after the downloads');
    });

    test('documents: a chat deleted while its document is read, damaged warnings, the document past the limit, a 2 MB page', async () => {
        await each(['documents.add and chats.delete in the same tick'], (what) => what, async (what) => {
            const box = (await rpc.client.request('chats.create', { title: 'Gone soon' })).id;
            const adding = rpc.client.request('documents.add', { chatId: box, uploadId: 'race', name: 'race.md', dataBase64: Buffer.from('# Race\n\nA few words.').toString('base64') });
            const deleting = rpc.client.request('chats.delete', { chatId: box });
            const error = await refusal(adding, what);
            await deleting;
            assert.equal(error.code, 'NOT_FOUND', `${what}: ${error.code} ${error.message}`);
            assert.equal((await rpc.client.request('chats.list', {})).some((c) => c.id === box), false);
        });
        await each(['a document whose warnings are not JSON'], (what) => what, async (what) => {
            const box = (await rpc.client.request('chats.create', { title: 'Damaged row' })).id;
            const doc = await rpc.client.request('documents.add', { chatId: box, uploadId: 'damaged', name: 'notes.md', dataBase64: Buffer.from('# Notes\n\nKept.').toString('base64') });
            const db = new DatabaseSync(path.join(dataDir, DATABASE_FILE));
            db.prepare('UPDATE documents SET warnings = ? WHERE id = ?').run('{not json', doc.id);
            db.close();
            const view = await rpc.client.request('chats.open', { chatId: box });
            assert.deepEqual(view.documents.map((d) => [d.name, d.warnings]), [['notes.md', [UNREADABLE_WARNINGS]]], what);
            assertPlain(UNREADABLE_WARNINGS, what);
        });
        await each([`document ${MAX_CHAT_DOCUMENTS + 1} in one chat`], (what) => what, async (what) => {
            const box = (await rpc.client.request('chats.create', { title: 'Many' })).id;
            // All but the last one straight into the database (reading 256 files would take minutes), the last through the server.
            const db = new DatabaseSync(path.join(dataDir, DATABASE_FILE));
            const insert = db.prepare("INSERT INTO documents (id, chat_id, name, kind, size_bytes, pages, text, warnings, created_at) VALUES (?, ?, ?, 'text', 4, NULL, 'Text', '[]', ?)");
            for (let i = 0; i < MAX_CHAT_DOCUMENTS - 1; i++) insert.run(`doc-${box}-${i}`, box, `part-${i}.txt`, Date.now());
            db.close();
            const last = await rpc.client.request('documents.add', { chatId: box, uploadId: 'many', name: 'last.txt', dataBase64: Buffer.from('The last one that fits.').toString('base64') });
            assert.equal(last.name, 'last.txt');
            const error = await refusal(rpc.client.request('documents.add', { chatId: box, uploadId: 'many', name: 'one-more.txt', dataBase64: Buffer.from('One too many.').toString('base64') }), what);
            assert.equal(error.code, 'BAD_REQUEST');
            assert.match(error.message, new RegExp(`^one-more\\.txt was not added: a chat holds at most ${MAX_CHAT_DOCUMENTS} documents`));
            assert.equal((await rpc.client.request('chats.open', { chatId: box })).documents.length, MAX_CHAT_DOCUMENTS);
        });
        await each(['a 2 MB HTML page (16,000 paragraphs)'], (what) => what, async (what) => {
            const box = (await rpc.client.request('chats.create', { title: 'Long page' })).id;
            const started = performance.now();
            // Read whole (not "may be damaged" after minutes), then refused only because the 1,024-token context cannot hold it.
            const error = await refusal(rpc.client.request('documents.add', { chatId: box, uploadId: 'page', name: 'page.html', dataBase64: Buffer.from(htmlPage(16_000)).toString('base64') }), what);
            const seconds = (performance.now() - started) / 1000;
            console.log(`${what}: read and counted in ${seconds.toFixed(1)} s`);
            assert.equal(error.code, 'CONTEXT_OVERFLOW', `${what}: ${error.message}`);
            assert.ok(seconds < 30, `${what}: answered in ${seconds.toFixed(1)} s`);
        });
        await unchanged('after the hostile document rows');
    });

    test('kv.profile where a folder sits in the profile\'s place is refused at once, in words', async () => {
        const sha = createHash('sha256').update(await readFile(model)).digest('hex');
        await mkdir(path.join(profileDir, `${sha}.json`), { recursive: true });
        await each(['a folder where the profile goes'], (what) => what, async (what) => {
            const started = performance.now();
            const error = await refusal(rpc.client.request('kv.profile', { path: model }), what);
            assert.equal(error.code, 'BAD_REQUEST', `${what}: ${error.code}`);
            assert.match(error.message, /^The head profile cannot be stored at .*: a folder is in its place\. Move it away/);
            assert.ok(performance.now() - started < 30_000, 'refused before any measuring');
        });
        await unchanged('after profiling into a folder');
    });

    test('a WebSocket dropped right after the upgrade is no news in the log; the server stays up', async () => {
        const before = served.stderrText();
        await each(['a reset after the upgrade', 'a reset during the upgrade'], (what) => what, async (what) => {
            await new Promise<void>((resolve, reject) => {
                const socket = net.connect(port, '127.0.0.1', () => {
                    socket.write(`GET /rpc?token=${served.token} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
                    if (what === 'a reset during the upgrade') socket.resetAndDestroy();
                });
                socket.once('data', (data: Buffer) => {
                    assert.match(data.toString('latin1'), /^HTTP\/1\.1 101 /);
                    socket.resetAndDestroy();
                });
                socket.on('close', () => resolve());
                socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? resolve() : reject(error)));
            });
            await new Promise((resolve) => setTimeout(resolve, 300));
            assert.equal((await fetch(served.url)).status, 200, `${what}: the server answers`);
        });
        const logged = served.stderrText().slice(before.length);
        assert.doesNotMatch(logged, /before the upgrade|ECONNRESET/, 'nothing about the dropped sockets is logged');
        await unchanged('after the dropped sockets');
    });

    test('profiling /dev/zero is refused at once and leaves profiling usable', async () => {
        await each(['/dev/zero', '/dev/zero (again: not busy)'], (what) => what, async (what) => {
            const error = await refusal(rpc.client.request('kv.profile', { path: '/dev/zero' }), `kv.profile ${what}`);
            assert.notEqual(error.code, 'BUSY');
        });
        await unchanged('after profiling /dev/zero');
    });

    test('documents: bombs, spine amplification, endless PDFs and broken XML end in a sentence, nothing is stored', async () => {
        const documents: Array<{ name: string; bytes: Buffer; expect: 'refused' | RegExp }> = [
            { name: 'bomb.docx', bytes: await docxBomb(40), expect: 'refused' },
            { name: 'bomb.epub', bytes: await epubBomb(2, 24), expect: 'refused' },
            { name: 'pages.pdf', bytes: makePdf(Array.from({ length: 20_000 }, () => [])), expect: 'refused' },
            { name: 'broken.docx', bytes: await brokenXmlDocx(), expect: 'refused' },
            { name: 'not-a-zip.docx', bytes: Buffer.from('PK but not really a zip file'), expect: 'refused' },
            { name: 'not-a-zip.epub', bytes: Buffer.from('just text'), expect: 'refused' },
            { name: 'binary.txt', bytes: Buffer.from([0, 1, 2, 3, 0, 255]), expect: 'refused' },
            { name: 'empty.md', bytes: Buffer.alloc(0), expect: 'refused' },
            { name: 'program.exe', bytes: Buffer.from('MZ'), expect: 'refused' },
            { name: 'spine.epub', bytes: await spineAmplificationEpub(300, 'Only once, however often the spine says so.'), expect: /^Only once, however often the spine says so\.$/ },
            { name: 'escape.epub', bytes: await badEscapeEpub('A chapter with an odd name.'), expect: /^A chapter with an odd name\.$/ },
        ];
        const box = (await rpc.client.request('chats.create', { title: 'Documents' })).id;
        await each(documents, (d) => d.name, async ({ name, bytes, expect }) => {
            const started = performance.now();
            const add = rpc.client.request('documents.add', { chatId: box, uploadId: 'hostile', name, dataBase64: bytes.toString('base64') });
            if (expect === 'refused') {
                const error = await refusal(add, name);
                assert.ok(['DOCUMENT_UNREADABLE', 'DOCUMENT_TOO_LARGE', 'UNSUPPORTED_DOCUMENT'].includes(error.code), `${name}: ${error.code}`);
            } else {
                const doc = await add;
                const db = new DatabaseSync(path.join(dataDir, DATABASE_FILE), { readOnly: true });
                const { text } = db.prepare('SELECT text FROM documents WHERE id = ?').get(doc.id) as { text: string };
                db.close();
                assert.match(text, expect, `${name}: stored once`);
                await rpc.client.request('documents.remove', { documentId: doc.id });
            }
            assert.ok(performance.now() - started < 60_000, `${name}: answered in ${Math.round(performance.now() - started)} ms`);
        });
        assert.deepEqual((await rpc.client.request('chats.open', { chatId: box })).documents, [], 'nothing refused was stored');
        await unchanged('after the hostile documents');
    });

    test('a document whose window goes away mid-read is dropped: the reader stops and nothing is stored', async () => {
        const box = (await rpc.client.request('chats.create', { title: 'Gone' })).id;
        const slow = makePdf(Array.from({ length: 1500 }, (_, i) => [`Page ${i} of a long report.`, 'More words to read on it.']));
        await each(['close the socket while the PDF is read'], (what) => what, async () => {
            const other = await connect(served);
            const adding = other.client.request('documents.add', { chatId: box, uploadId: 'gone', name: 'long.pdf', dataBase64: slow.toString('base64') });
            adding.catch(() => {});
            await until(() => other.events.some((e) => e.name === 'document.progress' && e.payload.stage === 'extracting' && e.payload.done > 0), 'extraction to start');
            other.close();
            await new Promise((resolve) => setTimeout(resolve, 15_000)); // longer than reading the rest would take
            assert.deepEqual((await rpc.client.request('chats.open', { chatId: box })).documents, []);
        });
        await unchanged('after a window went away mid-read');
    });

    test('two sends on one chat (two tabs, a double click): one reply streams and is kept whole, the other is refused', async () => {
        const other = await connect(served);
        const chat = (await rpc.client.request('chats.create', {})).id;
        const busyChat = (await rpc.client.request('chats.create', { title: 'Busy' })).id;
        let winner: Promise<unknown> = Promise.resolve();
        await each(['the same chat from two tabs'], (what) => what, async () => {
            const sends = [rpc.client.request('chat.send', { chatId: chat, prompt: 'Tell me a story.' }), other.client.request('chat.send', { chatId: chat, prompt: 'Tell me a story.' })];
            // The refused one answers at once; the winner streams until stopped (the test model never ends a reply).
            const first = await Promise.race(sends.map((send, index) => send.then(() => ({ index, error: null }), (error: unknown) => ({ index, error }))));
            assert.ok(first.error instanceof HeadroomError, 'one of them is refused');
            assert.equal(first.error.code, 'BUSY');
            assertPlain(first.error.message, 'the second send');
            winner = sends[1 - first.index] ?? winner;
        });
        await until(async () => (await rpc.client.request('engine.getState', {})).status === 'generating', 'the winner to stream');
        await each(['another chat while one streams'], (what) => what, async () => {
            const error = await refusal(other.client.request('chat.send', { chatId: busyChat, prompt: 'Hello?' }), 'send in another chat');
            assert.equal(error.code, 'BUSY');
            assert.deepEqual((await rpc.client.request('chats.open', { chatId: busyChat })).messages, [], 'the other chat is untouched');
        });
        await until(() => rpc.events.some((e) => e.name === 'chat.chunk'), 'the winner\'s first words');
        await rpc.client.request('chat.stop', { chatId: chat });
        await winner;
        const messages = (await rpc.client.request('chats.open', { chatId: chat })).messages;
        assert.deepEqual(messages.map((m) => [m.role, m.status, m.error]), [['user', 'done', null], ['assistant', 'stopped', null]]);
        assert.ok((messages[1]?.text.length ?? 0) > 0, 'the reply is kept');
        other.close();
        await unchanged('after two sends at once');
    });

    test('a second Headroom on the same data folder is refused and leaves the first one\'s live reply alone', async () => {
        const chat = (await rpc.client.request('chats.create', {})).id;
        void rpc.client.request('chat.send', { chatId: chat, prompt: 'Keep talking.' }).catch(() => {});
        await until(async () => (await rpc.client.request('engine.getState', {})).status === 'generating', 'a reply to stream');
        await each(['serve on the same --data-dir'], (what) => what, async () => {
            const second = await serve(['--port', '0', '--data-dir', dataDir]).then(
                () => assert.fail('the second server started'),
                (error: Error) => error.message,
            );
            assert.match(second, /serve exited with 2/);
            const line = /headroom: (.*)/.exec(second)?.[1] ?? '';
            assert.match(line, /^Headroom is already running with the data folder /);
            assertPlain(line, 'the second instance');
            const db = new DatabaseSync(path.join(dataDir, DATABASE_FILE), { readOnly: true });
            const status = (db.prepare("SELECT status FROM messages WHERE chat_id = ? AND role = 'assistant'").get(chat) as { status: string }).status;
            db.close();
            assert.equal(status, 'streaming', 'the live reply was not marked interrupted');
        });
        await rpc.client.request('chat.stop', { chatId: chat });
        await until(async () => (await rpc.client.request('engine.getState', {})).status === 'ready', 'the reply to stop');
        await unchanged('after a second instance');
    });
});

describe('the data folder\'s lock', () => {
    test('a folder where headroom.lock belongs is named as the lock\'s problem, not the database\'s', async () => {
        const dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-hostile-lock-'));
        await mkdir(path.join(dataDir, LOCK_FILE));
        await each(['headroom.lock as a folder'], (what) => what, async (what) => {
            const failed = await serve(['--port', '0', '--data-dir', dataDir]).then(
                () => assert.fail('serve started'),
                (error: Error) => error.message,
            );
            assert.match(failed, /serve exited with 2/);
            const line = /headroom: (.*)/.exec(failed)?.[1] ?? '';
            assert.match(line, /^Headroom cannot take the lock of its data folder .*: .*headroom\.lock is a folder, where Headroom keeps the file that says which Headroom uses the folder\. Move it away/, what);
            assert.doesNotMatch(line, /database/, what);
            assertPlain(line, what);
            assert.ok((await stat(path.join(dataDir, LOCK_FILE))).isDirectory(), 'the folder is left as it was');
        });
    });
});

describe('hostile Markdown in a reply (the real component in Chromium)', () => {
    test('links only to http(s) and mailto, images only from data: URLs, nothing fetched', async () => {
        const harness = await startHarness();
        try {
            const cases = [
                ['a protocol-relative image', '![x](//evil.example/a.png)'],
                ['a remote image', '![pixel](https://tracker.example/p.png)'],
                ['a file: image', '![x](file://evil.example/share/a.png)'],
                ['a javascript: link', '[click](javascript:alert(1))'],
                ['a file: link', '[passwords](file:///etc/passwd)'],
                ['a protocol-relative link', '[x](//evil.example/)'],
                ['a reference-style image', '![y][r]\n\n[r]: //evil.example/b.png'],
                ['raw HTML', '<img src="//evil.example/c.png" onerror="alert(1)"><a href="javascript:alert(1)">x</a>'],
                ['an autolink to a file', '<file:///etc/passwd>'],
            ] as const;
            await each(cases, ([what]) => what, async ([what, text]) => {
                const page = await harness.open({ component: 'markdown', text: `Before. ${text} After.` }, { width: 600, height: 300 });
                await page.waitForTimeout(200);
                // Everything the page fetched since it opened, images included.
                const requests = await page.evaluate(() => performance.getEntriesByType('resource').map((entry) => entry.name));
                const images = await page.locator('.message-text img').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('src') ?? ''));
                const links = await page.locator('.message-text a').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('href') ?? ''));
                assert.deepEqual(images.filter((src) => !src.startsWith('data:image/')), [], `${what}: images`);
                assert.deepEqual(links.filter((href) => !/^(https?|mailto):/.test(href)), [], `${what}: links`);
                assert.deepEqual(requests.filter((url) => !url.startsWith('http://127.0.0.1:')), [], `${what}: nothing fetched`);
                assert.match(await page.locator('.message-text').textContent() ?? '', /Before\..*After\./s, `${what}: the text around it stays`);
                await page.close();
            });
            const kept = await harness.open({ component: 'markdown', text: 'See [the docs](https://example.com/docs) and ![dot](data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==) and ![gone](//evil.example/x.png).' }, { width: 600, height: 200 });
            assert.equal(await kept.locator('a[href="https://example.com/docs"]').count(), 1, 'an http(s) link stays a link');
            assert.equal(await kept.locator('img[src^="data:image/png"]').count(), 1, 'a data: image is shown');
            assert.equal(await kept.locator('.dropped-image').textContent(), '[image: gone]', 'a dropped image is named, not shown');
            await kept.screenshot({ path: path.join(results, 'hostile-markdown.png') });
        } finally {
            await harness.close();
        }
    });
});

describe('hostile inputs against the engine host and the document reader, in process', () => {
    test('a plan that hangs kills the engine host, starts a new one and loads the model again', async () => {
        const dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-hostile-hang-'));
        const { backend, call } = openBackend(dataDir, { engineTimeouts: { planMs: 1 } });
        try {
            await backend.supervisor.load({ path: STORIES });
            const pid = backend.supervisor.state.pid;
            await each(['memory.plan past its time'], (what) => what, async (what) => {
                const error = await refusal(call('memory.plan', { path: STORIES, overrides: { contextSize: 512, gpuLayers: 0, kvMode: 'off' } }), what);
                assert.equal(error.code, 'TIMED_OUT');
                assert.match(error.message, /was stopped and started again; stories260K\.gguf is loaded again\.$/);
                assert.notEqual(backend.supervisor.state.pid, pid, 'a new engine host');
                assert.equal(backend.supervisor.state.model?.path, STORIES);
                assert.equal(backend.supervisor.state.status, 'ready');
            });
            await each(['chat.send after an engine crash'], (what) => what, async (what) => {
                const chatId = (await call('chats.create', {})).id;
                const host = backend.supervisor.state.pid;
                assert.ok(host != null);
                process.kill(host, 'SIGKILL');
                await until(() => backend.supervisor.state.status === 'crashed', 'the crash to be seen');
                const error = await refusal(call('chat.send', { chatId, prompt: 'Once' }), what);
                assert.equal(error.code, 'ENGINE_CRASHED');
                assert.match(error.message, /restart the engine/);
                assert.deepEqual((await call('chats.open', { chatId })).messages, [], 'the refused turn left nothing behind');
                await call('engine.restart', {});
                assert.equal(backend.supervisor.state.model?.path, STORIES);
            });
            assert.equal(backend.db.integrityCheck(), 'ok');
        } finally {
            backend.dispose();
        }
    });

    test('engine restarts at once all answer', async () => {
        const dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-hostile-restart-'));
        const { backend, call } = openBackend(dataDir);
        try {
            await backend.supervisor.load({ path: STORIES, contextSize: 256 });
            await each([2, 3], (count) => `${count} engine.restart at once`, async (count) => {
                const states = await within(120_000, `${count} restarts`, Promise.all(Array.from({ length: count }, () => call('engine.restart', {}))));
                for (const state of states) {
                    assert.equal(state.status, 'ready');
                    assert.equal(state.model?.path, STORIES);
                }
                assert.equal(backend.supervisor.state.status, 'ready');
                assert.equal(backend.supervisor.state.model?.path, STORIES);
            });
            assert.equal(backend.db.integrityCheck(), 'ok');
        } finally {
            backend.dispose();
        }
    });

    test('a restart a moment after a question waits for the model instead of dropping the question', async () => {
        const dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-hostile-restart-send-'));
        const { backend, call } = openBackend(dataDir);
        try {
            await backend.supervisor.load({ path: STORIES, contextSize: 256 });
            await each(['engine.restart a moment after chat.send'], (what) => what, async (what) => {
                const chatId = (await call('chats.create', {})).id;
                const sending = call('chat.send', { chatId, prompt: 'Once upon a time' });
                const restarting = call('engine.restart', {});
                const [reply, state] = await within(120_000, what, Promise.all([sending, restarting]));
                assert.equal(state.model?.path, STORIES);
                assert.equal(reply.role, 'assistant');
                assert.equal(reply.error, null, `${what}: ${reply.error ?? ''}`);
                assert.ok(reply.text.length > 0, 'the question was answered');
                assert.deepEqual((await call('chats.open', { chatId })).messages.map((m) => [m.role, m.status]), [['user', 'done'], ['assistant', reply.status]]);
            });
            assert.equal(backend.db.integrityCheck(), 'ok');
        } finally {
            backend.dispose();
        }
    });

    /** A document of about `facts` × 60 tokens on organism.gguf, with one passcode in it. */
    const factsDocument = (facts: number) => Buffer.from(Array.from({ length: facts }, (_, i) =>
        i === Math.floor(facts / 2) ? 'The passcode for the red door is 41735.' : `Line ${i} of the manual says to keep the valves closed and the gauges clean.`).join('\n')).toString('base64');

    test('a KV snapshot cut in half, overwritten, emptied, replaced by a folder or vouched for another model is read again, never restored; the engine keeps running', async () => {
        const dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-hostile-snapshots-'));
        const { backend, call } = openBackend(dataDir);
        try {
            await backend.supervisor.load({ path: ORGANISM, contextSize: 2048 });
            const chatId = (await call('chats.create', {})).id;
            const doc = await call('documents.add', { chatId, uploadId: 'facts', name: 'manual.txt', dataBase64: factsDocument(30) });
            assert.ok((doc.tokens ?? 0) >= 512, `${doc.tokens} tokens: enough for a snapshot`);
            const ask = async (prompt: string) => {
                const reply = await call('chat.send', { chatId, prompt });
                return { reply, prefill: (await call('chats.open', { chatId })).lastPrefill };
            };
            assert.equal((await ask('What is the passcode for the red door?')).prefill?.snapshot, 'saved');
            const file = path.join(dataDir, 'snapshots', `${chatId}.kvstate`);
            const header = `${file}.header`;
            const size = (await stat(file)).size;
            const corruptions: Array<[string, () => Promise<void>]> = [
                ['cut to half its size', () => truncate(file, Math.floor(size / 2))],
                ['random bytes of the same size', () => writeFile(file, Buffer.from(Array.from({ length: size }, (_, i) => (i * 7919 + 13) % 256)))],
                ['emptied', () => writeFile(file, '')],
                ['a header that names another model', async () => {
                    const json = JSON.parse(await readFile(header, 'utf8')) as { model: string };
                    await writeFile(header, JSON.stringify({ ...json, model: `sha256:${'0'.repeat(64)}|ctx2048|other` }));
                }],
                ['no header (an older Headroom\'s snapshot)', () => writeFile(header, 'not a header')],
                ['a folder in its place', async () => {
                    await rm(file);
                    await mkdir(path.join(file, 'inside'), { recursive: true });
                }],
            ];
            await each(corruptions, ([what]) => what, async ([what, corrupt]) => {
                await call('engine.restart', {}); // a fresh engine host holds nothing: the next turn would restore from disk
                const pid = backend.supervisor.state.pid;
                await corrupt();
                for (const turn of ['Which door has a passcode?', 'What is the passcode for the red door?']) {
                    const { reply, prefill } = await ask(turn);
                    assert.equal(reply.error, null, `${what}: ${reply.error ?? ''}`);
                    assert.notEqual(reply.status, 'error', what);
                    assert.notEqual(prefill?.snapshot, 'restored', `${what}: not restored`);
                    assert.equal(backend.supervisor.state.pid, pid, `${what}: the engine host kept running`);
                    assert.equal(backend.supervisor.state.status, 'ready', what);
                }
                if (what !== 'a folder in its place') assert.equal((await stat(header)).isFile(), true, `${what}: saved anew, with its header`);
            });
            await each(['a snapshot saved anew is restored'], (what) => what, async (what) => {
                await rm(file, { recursive: true }); // the folder the test put there
                await call('engine.restart', {});
                assert.equal((await ask('What is the passcode for the red door?')).prefill?.snapshot, 'saved', what);
                await call('engine.restart', {});
                assert.equal((await ask('What is the passcode for the red door?')).prefill?.snapshot, 'restored', what);
            });
            assert.equal(backend.db.integrityCheck(), 'ok');
        } finally {
            backend.dispose();
        }
    });

    test('another model of the same size under the same path is never restored into; a new engine host does not read the model again to hash it', async () => {
        const dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-hostile-identity-'));
        const modelPath = path.join(dataDir, 'model.gguf');
        await copyFile(ORGANISM, modelPath);
        const hashes = path.join(dataDir, 'model-hashes.json');
        const { backend, call } = openBackend(dataDir);
        const kv = { mode: 'auto' as const, sinks: 4, window: 128, offload: 'auto' as const };
        try {
            await backend.supervisor.load({ path: modelPath, contextSize: 2048, kv });
            const first = await stat(hashes);
            const firstText = await readFile(hashes, 'utf8');
            await each(['a second and third engine host on the same model'], (what) => what, async (what) => {
                for (let i = 0; i < 2; i++) await call('engine.restart', {});
                assert.equal(backend.supervisor.state.model?.path, modelPath);
                assert.equal((await stat(hashes)).mtimeMs, first.mtimeMs, `${what}: the hashes were not written again (the model was not read again)`);
                assert.equal(await readFile(hashes, 'utf8'), firstText, what);
            });
            const chatId = (await call('chats.create', {})).id;
            await call('documents.add', { chatId, uploadId: 'facts', name: 'manual.txt', dataBase64: factsDocument(30) });
            await call('chat.send', { chatId, prompt: 'What is the passcode for the red door?' });
            assert.equal((await call('chats.open', { chatId })).lastPrefill?.snapshot, 'saved');
            await each(['another model, same size, same path'], (what) => what, async (what) => {
                // The same file with different weights at its end: the same size, another model.
                const other = Buffer.from(await readFile(ORGANISM));
                for (let i = other.length - 8192; i < other.length; i += 4) other.writeFloatLE(-other.readFloatLE(i) || 0.5, i);
                await writeFile(modelPath, other);
                assert.equal((await stat(modelPath)).size, (await stat(ORGANISM)).size);
                await call('engine.restart', {});
                const reply = await call('chat.send', { chatId, prompt: 'What is the passcode for the red door?' });
                assert.equal(reply.error, null, what);
                assert.notEqual((await call('chats.open', { chatId })).lastPrefill?.snapshot, 'restored', `${what}: the old model's KV state is not used`);
                const entries = JSON.parse(await readFile(hashes, 'utf8')) as Array<{ path: string; sha256: string }>;
                assert.equal(entries.filter((e) => e.path === modelPath).length, 1, `${what}: one entry per file`);
                assert.equal(entries.find((e) => e.path === modelPath)?.sha256, createHash('sha256').update(other).digest('hex'), `${what}: the changed file was hashed again`);
            });
            await each(['the same file touched'], (what) => what, async (what) => {
                const later = new Date(Date.now() + 60_000);
                await utimes(modelPath, later, later);
                const before = await readFile(hashes, 'utf8');
                await call('engine.restart', {});
                assert.notEqual(await readFile(hashes, 'utf8'), before, `${what}: a new modification time is hashed again`);
            });
        } finally {
            backend.dispose();
        }
    });

    test('completion mode keeps the start: a long reply stops when the context is full instead of shifting', async () => {
        const dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-hostile-completion-'));
        const { backend } = openBackend(dataDir);
        try {
            const info = await backend.supervisor.load({ path: STORIES, contextSize: 256 });
            assert.equal(info.chatMode, 'completion');
            await each(['maxTokens far past the context'], (what) => what, async () => {
                const prompt = 'Once upon a time, there was a little girl named Lily. She loved to play outside.';
                const reply = await backend.supervisor.generate({ generationId: 'long', documents: [], history: [], prompt, maxTokens: 4000 });
                const [promptTokens = 0, replyTokens = 0] = (await backend.supervisor.countTokens([prompt, reply.text])) ?? [];
                assert.equal(reply.stopReason, 'contextFull');
                assert.ok(promptTokens + replyTokens <= info.contextSize + 8, `prompt ${promptTokens} + reply ${replyTokens} tokens fit in ${info.contextSize}: nothing was shifted out`);
            });
        } finally {
            backend.dispose();
        }
    });

    test('the reader\'s own limits: time, memory, and a window that goes away', async () => {
        const long = makePdf(Array.from({ length: 2000 }, (_, i) => [`Page ${i}.`, 'Some text on it.']));
        await each(['over its time', 'over its memory', 'cancelled'], (what) => what, async (what) => {
            const controller = new AbortController();
            const spawn = what === 'over its memory' ? () => spawnWorkerThreadExtractor(16) : () => spawnWorkerThreadExtractor();
            const reading = extractInWorker(spawn, 'long.pdf', long, {
                timeLimitMs: what === 'over its time' ? 300 : 120_000,
                signal: controller.signal,
                onProgress: (done) => {
                    if (what === 'cancelled' && done === 3) controller.abort();
                },
            });
            const started = performance.now();
            const error = await refusal(reading, what);
            assert.match(error.message, what === 'over its time' ? /took longer than/ : what === 'over its memory' ? /needs more memory/ : /was cancelled/);
            assert.ok(performance.now() - started < 30_000);
        });
        const text = await readFile(new URL('../README.md', import.meta.url), 'utf8');
        const ok = await extractInWorker(() => spawnWorkerThreadExtractor(), 'README.md', Buffer.from(text));
        assert.equal(ok.kind, 'markdown', 'the reader still reads after all that');
    });
});
