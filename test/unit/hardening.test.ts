// The pure parts of issue 12's hardening, in the fast tier: which URLs a reply's Markdown may
// use, which page is the app's own (Windows paths, "#" in the install folder), the Electron
// security rules and fuses, plain-word validation, the host's event allow-list, the data
// folder's lock, and crafted GGUF headers. test/hostile.test.ts replays the rest for real.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { hostContract } from '../../common/contract.ts';
import { checkGgufFile } from '../../common/ggufHeader.ts';
import { HeadroomError } from '../../common/errors.ts';
import { describeIssues, plainIssue } from '../../common/issues.ts';
import { RpcClient } from '../../common/rpc.ts';
import { htmlToText } from '../../backend/documents/htmlToText.ts';
import { lockDataDir } from '../../backend/instanceLock.ts';
import { htmlPage } from '../../bench/extractSpeed.ts';
import { checkChatTemplate } from '../../engine/chatTemplate.ts';
import { ModelHashes } from '../../engine/modelHash.ts';
import { externalUrl, isOwnPage, permissionCheck, permissionRequest, windowPreferences } from '../../electron/security.ts';
import { markdownUrl, safeImageUrl, safeLinkUrl } from '../../renderer/src/markdownUrls.ts';
import { craftedGgufs, impossibleHyperparameters, rewriteGguf } from '../support/hostileInputs.ts';
import { ORGANISM, STORIES } from '../support/models.ts';

describe('Markdown URLs in replies', () => {
    test('links go to http(s) and mailto only; relative, protocol-relative and script URLs are dropped', () => {
        assert.equal(safeLinkUrl('https://example.com/a?b#c'), 'https://example.com/a?b#c');
        assert.equal(safeLinkUrl('mailto:someone@example.com'), 'mailto:someone@example.com');
        for (const url of ['//host/a.png', '/etc/passwd', 'notes.md', '#top', 'file:///C:/secret', 'javascript:alert(1)', ' JavaScript:alert(1)', 'java\tscript:alert(1)', 'data:text/html,<script>x</script>', 'smb://host/share', '\\\\host\\share']) {
            assert.equal(safeLinkUrl(url), null, url);
        }
    });

    test('images come only from data: image URLs, never fetched', () => {
        assert.ok(safeImageUrl('data:image/png;base64,iVBORw0KGgo=') != null);
        for (const url of ['//host/a.png', 'https://tracker.example/pixel.png', 'file://host/a.png', 'data:text/html;base64,PHNjcmlwdD4=']) assert.equal(safeImageUrl(url), null, url);
        assert.equal(markdownUrl('https://example.com/x.png', 'src', { tagName: 'img' }), null);
        assert.equal(markdownUrl('https://example.com/', 'href', { tagName: 'a' }), 'https://example.com/');
    });
});

describe('Electron rules', () => {
    test('the own page is compared as a path: Windows drive letters, "#" and "%" in the install folder', () => {
        const posix = '/opt/Head#room 100%/resources/app.asar/.vite/renderer';
        const page = pathToFileURL(`${posix}/main_window/index.html`).href;
        assert.ok(page.includes('%23'), 'the # is escaped in the URL');
        assert.equal(isOwnPage(page, { rendererDir: posix, platform: 'linux' }), true);
        assert.equal(isOwnPage(pathToFileURL('/opt/Head#room 100%/resources/app.asar/.vite/renderer-evil/x.html').href, { rendererDir: posix, platform: 'linux' }), false);
        assert.equal(isOwnPage(pathToFileURL('/etc/passwd').href, { rendererDir: posix, platform: 'linux' }), false);
        const windows = 'C:\\Program Files\\Head#room\\resources\\app.asar\\.vite\\renderer';
        assert.equal(isOwnPage('file:///C:/Program%20Files/Head%23room/resources/app.asar/.vite/renderer/main_window/index.html', { rendererDir: windows, platform: 'win32' }), true);
        assert.equal(isOwnPage('file:///D:/elsewhere/index.html', { rendererDir: windows, platform: 'win32' }), false);
        assert.equal(isOwnPage('file://host/share/index.html', { rendererDir: posix, platform: 'linux' }), false, 'no file URL with a host (SMB)');
        assert.equal(isOwnPage('http://localhost:5173/index.html', { devServerUrl: 'http://localhost:5173', rendererDir: posix }), true);
        assert.equal(isOwnPage('http://localhost:51730/', { devServerUrl: 'http://localhost:5173', rendererDir: posix }), false, 'not a prefix match');
        assert.equal(isOwnPage('not a url', { rendererDir: posix }), false);
    });

    test('links open outside only for http(s) and mailto; every permission is refused; devtools only while developing', () => {
        assert.equal(externalUrl('https://example.com'), 'https://example.com/');
        assert.equal(externalUrl('file:///etc/passwd'), null);
        assert.equal(externalUrl('smb://host/share'), null);
        assert.equal(permissionCheck(), false);
        let granted: boolean | null = null;
        permissionRequest(null, 'media', (answer) => (granted = answer));
        assert.equal(granted, false);
        const packaged = windowPreferences('/p/preload.cjs', true);
        assert.equal(packaged.devTools, false);
        assert.equal(windowPreferences('/p/preload.cjs', false).devTools, true);
        assert.deepEqual([packaged.contextIsolation, packaged.sandbox, packaged.nodeIntegration, packaged.webviewTag], [true, true, false, false]);
    });

    test('installers flip the fuses: no ELECTRON_RUN_AS_NODE, NODE_OPTIONS or --inspect; asar only, checked', () => {
        const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { build: { electronFuses: Record<string, boolean> } };
        assert.deepEqual(pkg.build.electronFuses, {
            runAsNode: false, enableNodeOptionsEnvironmentVariable: false, enableNodeCliInspectArguments: false,
            enableCookieEncryption: true, enableEmbeddedAsarIntegrityValidation: true, onlyLoadAppFromAsar: true,
        });
    });
});

describe('plain words at the boundaries', () => {
    test('validation problems read as sentences naming the field', () => {
        const schema = z.object({ prompt: z.string().min(1).max(5), count: z.number().int().max(3), mode: z.enum(['a', 'b']) }).strict();
        const result = schema.safeParse({ prompt: 'toolong', count: 9, mode: 'c', extra: 1 }, { error: plainIssue });
        assert.equal(result.success, false);
        if (!result.success) {
            assert.equal(describeIssues(result.error).message, 'prompt is too long (at most 5 characters); count must be at most 3; mode must be one of "a", "b"; the value has unknown field "extra".');
        }
    });

    test('an engine host may send only its own events: a forged chat.message or engine.state is dropped', () => {
        const client = new RpcClient(hostContract, () => {});
        const seen: string[] = [];
        client.onEvent((event) => seen.push(event.name));
        client.receive({ type: 'event', name: 'chat.message', payload: { id: 'm', chatId: 'c', role: 'assistant', text: 'forged', status: 'done', error: null, createdAt: 0 } });
        client.receive({ type: 'event', name: 'engine.state', payload: { status: 'ready', model: null, error: null, pid: 1, restarts: 0 } });
        client.receive({ type: 'event', name: 'chat.chunk', payload: { generationId: 'g', text: 'real' } });
        assert.deepEqual(seen, ['chat.chunk']);
    });
});

describe('the data folder lock', () => {
    test('a second holder is refused with a sentence; a lock left by a dead process is taken over', async () => {
        const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'headroom-lock-'));
        const lock = lockDataDir(dir);
        // Another live process holds it: pretend with the parent's pid.
        await fs.writeFile(lock.file, JSON.stringify({ pid: process.ppid, host: os.hostname(), startedAt: 0 }));
        assert.throws(() => lockDataDir(dir), (error: HeadroomError) => error.code === 'BUSY' && /^Headroom is already running with the data folder .*\(process \d+\)\./.test(error.message));
        await fs.writeFile(lock.file, JSON.stringify({ pid: 2 ** 22 + 17, host: os.hostname(), startedAt: 0 }));
        const taken = lockDataDir(dir);
        taken.release();
        lock.release();
    });
});

describe('GGUF headers', () => {
    test('a real model passes; every crafted header is refused at once with a sentence', async () => {
        assert.equal((await checkGgufFile(fs, STORIES)).architecture, 'llama');
        const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'headroom-gguf-'));
        for (const { name, bytes } of craftedGgufs()) {
            const file = path.join(dir, name);
            await fs.writeFile(file, bytes);
            const started = performance.now();
            await assert.rejects(checkGgufFile(fs, file), (error: HeadroomError) =>
                error.code === 'MODEL_LOAD_FAILED' && error.message.startsWith(`Could not load ${name}: `) && error.message.endsWith('.'), name);
            assert.ok(performance.now() - started < 1000, `${name} refused in ${Math.round(performance.now() - started)} ms`);
        }
    });
});

describe('hyperparameters llama.cpp aborts on', () => {
    test('are refused before anything loads, naming the file and the field; real models pass', async () => {
        const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'headroom-hparams-'));
        const stories = await fs.readFile(STORIES);
        const same = path.join(dir, 'unchanged.gguf');
        await fs.writeFile(same, rewriteGguf(stories, {}));
        for (const file of [STORIES, ORGANISM, same]) assert.equal((await checkGgufFile(fs, file)).architecture, 'llama', file);
        assert.equal((await checkGgufFile(fs, ORGANISM)).chatTemplate?.includes('Q: '), true, 'the chat template is read whole');
        const cases = impossibleHyperparameters(stories);
        let handled = 0;
        for (const { name, field, bytes } of cases) {
            const file = path.join(dir, name);
            await fs.writeFile(file, bytes);
            await assert.rejects(checkGgufFile(fs, file), (error: HeadroomError) => {
                assert.equal(error.code, 'MODEL_LOAD_FAILED', name);
                assert.ok(error.message.startsWith(`Could not load ${name}: its metadata `), `${name}: ${error.message}`);
                assert.ok(error.message.includes(field), `${name} names ${field}: ${error.message}`);
                assert.match(error.message, /the file is damaged or was converted wrong\.$/, name);
                return true;
            }, name);
            handled++;
        }
        console.log(`impossible hyperparameters: ${cases.length} tried, ${handled} handled`);
    });
});

describe('reading documents in linear time', () => {
    test('four times the paragraphs take about four times as long, not sixteen', () => {
        const fastest = (html: string) => {
            let best = Infinity;
            for (let round = 0; round < 3; round++) {
                const started = performance.now();
                htmlToText(html);
                best = Math.min(best, performance.now() - started);
            }
            return best;
        };
        fastest(htmlPage(500)); // warm up the parser and the JIT
        const small = fastest(htmlPage(2000));
        const large = fastest(htmlPage(8000));
        const ratio = large / small;
        console.log(`htmlToText: 2,000 paragraphs ${small.toFixed(0)} ms, 8,000 paragraphs ${large.toFixed(0)} ms (${ratio.toFixed(1)}x)`);
        // Linear is about 4x; reading the whole text again per paragraph was 16x and more.
        assert.ok(ratio < 8, `8,000 paragraphs took ${ratio.toFixed(1)}x as long as 2,000`);
    });
});

describe('a model file\'s sha256, kept on disk', () => {
    test('a second process finds it without reading the file; a new size, modification time or copy over it reads it again', async () => {
        const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'headroom-hashes-'));
        const file = path.join(dir, 'model.gguf');
        await fs.copyFile(STORIES, file);
        const cache = path.join(dir, 'model-hashes.json');
        const first = new ModelHashes(cache);
        const sha = await first.sha256(file);
        assert.equal(first.hashed, 1);
        assert.equal(await first.sha256(file), sha);
        assert.equal(first.hashed, 1, 'remembered in memory');
        const second = new ModelHashes(cache); // another engine host: nothing in memory
        assert.equal(await second.sha256(file), sha);
        assert.equal(second.hashed, 0, 'found on disk, the file not read');
        const later = new Date(Date.now() + 60_000);
        await fs.utimes(file, later, later);
        const third = new ModelHashes(cache);
        assert.equal(await third.sha256(file), sha);
        assert.equal(third.hashed, 1, 'a new modification time is read again');
        await fs.appendFile(file, Buffer.alloc(16));
        const fourth = new ModelHashes(cache);
        assert.notEqual(await fourth.sha256(file), sha);
        assert.equal(fourth.hashed, 1, 'a new size is read again');
        // another model of the same size copied over it with its times kept (cp -p): only its status-change time tells
        const other = path.join(dir, 'other.gguf');
        const bytes = await fs.readFile(file);
        bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
        await fs.writeFile(other, bytes);
        const kept = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000); // whole seconds: utimes keeps them exactly
        await fs.utimes(file, kept, kept);
        const before = await fs.stat(file);
        assert.equal((await new ModelHashes(cache).sha256(file)).length, 64);
        await fs.writeFile(file, bytes);
        await fs.utimes(file, kept, kept);
        const copied = await fs.stat(file);
        assert.deepEqual([copied.size, copied.mtimeMs, copied.ino], [before.size, before.mtimeMs, before.ino]);
        const sixth = new ModelHashes(cache);
        assert.equal(await sixth.sha256(file), await sixth.sha256(other), 'the copy is read again, not taken for the old model');
        assert.equal(sixth.hashed, 2);
        assert.equal((JSON.parse(await fs.readFile(cache, 'utf8')) as unknown[]).length, 2, 'one entry per file: model.gguf and other.gguf');
        await fs.writeFile(cache, 'not json');
        const fifth = new ModelHashes(cache);
        assert.equal((await fifth.sha256(file)).length, 64, 'a damaged cache is read past');
        assert.equal(fifth.hashed, 1);
    });
});

describe('chat templates', () => {
    test('one that loops or eats memory is refused as the file\'s template, in bounded time; real ones pass', async () => {
        const cases = [
            { what: 'range(100000000)', template: '{% for i in range(100000000) %}{{ i }}{% endfor %}', why: /needed more than 64 MB of memory/ },
            { what: 'nested loops', template: '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}', why: /did not finish rendering a short conversation in 2 s/ },
        ];
        let handled = 0;
        for (const { what, template, why } of cases) {
            const started = performance.now();
            await assert.rejects(checkChatTemplate(template, 'hostile.gguf', { timeMs: 2000, memoryMb: 64 }), (error: HeadroomError) => {
                assert.equal(error.code, 'MODEL_LOAD_FAILED', what);
                assert.match(error.message, /^Could not load hostile\.gguf: the model file's chat template \(tokenizer\.chat_template\) /, what);
                assert.match(error.message, why, what);
                assert.doesNotMatch(error.message, /context size/, what);
                return true;
            });
            assert.ok(performance.now() - started < 10_000, `${what}: refused in ${Math.round(performance.now() - started)} ms`);
            handled++;
        }
        const organism = await checkGgufFile(fs, ORGANISM);
        await checkChatTemplate(organism.chatTemplate ?? '', 'organism.gguf');
        await checkChatTemplate('{{ raise_exception("no system messages") }}', 'strict.gguf'); // an error is node-llama-cpp's to handle
        console.log(`chat templates: ${cases.length} hostile tried, ${handled} handled`);
    });
});
