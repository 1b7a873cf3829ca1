// Downloads through node-llama-cpp's downloader against an HTTP server on 127.0.0.1 serving real
// GGUF files with Range support (test/support/modelServer.ts): whole, interrupted and resumed,
// dropped mid-stream, missing, too big for the disk, badly addressed, split, cancelled, and by
// hf: URI through the server standing in for Hugging Face. Every case ends in a clear state,
// reports progress, and leaves no half file where the model scan would list it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { getLlama, LlamaCompletion } from 'node-llama-cpp';
import type { DownloadState } from '../common/models.ts';
import { HeadroomDatabase } from '../backend/database.ts';
import { scanModels } from '../backend/models/discovery.ts';
import { DownloadManager, stagingName, type DownloadManagerOptions } from '../backend/models/downloads.ts';
import { splitGguf } from './support/ggufSplit.ts';
import { huggingFaceRoutes, startModelServer, type ModelServer } from './support/modelServer.ts';
import { ORGANISM } from './support/models.ts';
import { cachedRandomGguf } from './support/randomGguf.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const run = promisify(execFile);
const MB = 1_000_000;
const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

/** A model large enough to be written in several of the downloader's 5 MiB chunks (about 17 MB). */
function largerModel(): Promise<string> {
    return cachedRandomGguf('download-llama-17mb-v1.gguf', {
        architecture: 'llama', vocab: 'llama-spm', nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 128,
        contextLength: 2048, tensorType: 'f32', seed: 21, name: 'Download test model',
    });
}

describe('model downloads', () => {
    let server: ModelServer;
    let large: string;
    let largeSha: string;
    let organismSha: string;
    const folders: string[] = [];

    before(async () => {
        server = await startModelServer();
        large = await largerModel();
        largeSha = await sha256(large);
        organismSha = await sha256(ORGANISM);
    });
    after(async () => {
        await server.close();
        await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
    });

    /** A fresh models folder and a manager writing into it, recording every state it reports. */
    async function session(options: Partial<DownloadManagerOptions> = {}, folder?: string) {
        const dir = folder ?? await mkdtemp(path.join(os.tmpdir(), 'headroom-downloads-'));
        if (folder == null) folders.push(dir);
        const events: DownloadState[] = [];
        const manager = new DownloadManager({ folder: () => dir, onChange: (state) => events.push(state), progressIntervalMs: 50, stallMs: 4000, ...options });
        const listed = async () => (await scanModels({ places: { home: dir, env: {}, platform: 'linux' }, headroomFolder: dir, exclude: (file) => manager.isInProgress(file) })).models.map((m) => path.basename(m.path));
        return { dir, events, manager, listed };
    }

    const statuses = (events: DownloadState[]) => [...new Set(events.map((e) => e.status))];

    test('a whole download: progress with speed and time left, the sha256 checked, the model listed', async () => {
        server.route('/models/organism.gguf', { file: ORGANISM });
        server.setPace(3 * MB);
        const { dir, events, manager, listed } = await session();
        const started = manager.start({ source: server.url('/models/organism.gguf'), sha256: organismSha });
        assert.equal(started.status, 'resolving');
        const done = await manager.finished(started.id);
        assert.equal(done.status, 'done', done.error ?? '');
        assert.equal(done.path, path.join(dir, 'organism.gguf'));
        assert.equal(await sha256(path.join(dir, 'organism.gguf')), organismSha);
        assert.deepEqual(statuses(events), ['downloading', 'verifying', 'done']);
        const moving = events.filter((e) => e.status === 'downloading' && e.receivedBytes > 0);
        assert.ok(moving.length >= 5, `${moving.length} progress events`);
        assert.ok(moving.every((e, i) => i === 0 || e.receivedBytes >= (moving[i - 1]?.receivedBytes ?? 0)), 'bytes only go up');
        assert.ok(moving.some((e) => e.bytesPerSecond > 0.5 * MB && e.bytesPerSecond < 10 * MB), 'a speed near the server\'s pace');
        assert.ok(moving.some((e) => e.etaSeconds != null && e.etaSeconds > 0), 'a time left');
        assert.equal(moving.at(-1)?.totalBytes, (await readFile(ORGANISM)).length);
        assert.deepEqual(await listed(), ['organism.gguf']);
    });

    test('a wrong sha256 is refused and the file deleted', async () => {
        server.setPace(0);
        const { dir, manager, listed } = await session();
        const state = await manager.finished(manager.start({ source: server.url('/models/organism.gguf'), sha256: '0'.repeat(64) }).id);
        assert.equal(state.status, 'failed');
        assert.match(state.error ?? '', /sha256 is [0-9a-f]{64}, not the expected 0{64}; the downloaded file was deleted\.$/);
        assert.deepEqual(await readdir(dir), []);
        assert.deepEqual(await listed(), []);
    });

    test('interrupted when Headroom closes, offered again next time, and resumed to the same sha256', async () => {
        server.route('/models/large.gguf', { file: large });
        server.setPace(6 * MB);
        const dbDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-journal-'));
        folders.push(dbDir);
        const db = new HeadroomDatabase(path.join(dbDir, 'headroom.sqlite'));
        const first = await session({ journal: db.settings });
        const source = server.url('/models/large.gguf');
        const started = first.manager.start({ source });
        // Until the downloader has written whole 5 MiB chunks to <its own name>.ipull and most of the rest is in flight.
        const partialName = `${stagingName(source, 'large.gguf')}.ipull`;
        const partial = path.join(first.dir, partialName);
        while (!existsSync(partial) || !first.events.some((e) => e.receivedBytes > 12 * MB)) await new Promise((resolve) => setTimeout(resolve, 20));
        await first.manager.dispose();
        const stopped = await first.manager.finished(started.id);
        assert.equal(stopped.status, 'failed');
        assert.match(stopped.error ?? '', /Interrupted when Headroom closed/);
        assert.deepEqual(await readdir(first.dir), [partialName], 'only the partial file, under a hidden name of its own');
        assert.deepEqual(await first.listed(), []);

        const second = await session({ journal: db.settings }, first.dir);
        const offered = second.manager.list().find((d) => d.source === source);
        assert.equal(offered?.status, 'failed', 'the next session lists the interrupted download');
        assert.match(offered?.error ?? '', /Try again to resume it/);
        server.requests.length = 0;
        const resumed = await second.manager.finished(second.manager.start({ source }).id);
        assert.equal(resumed.status, 'done', resumed.error ?? '');
        assert.ok(resumed.resumedFromBytes >= 5 * 1024 * 1024, `resumed from ${resumed.resumedFromBytes} bytes: at least one whole chunk`);
        // Besides our one-byte look at the address and the downloader's size query (cut short), only what was missing.
        const fetchedAgain = server.requests.filter((r) => r.range != null && r.range !== 'bytes=0-0').reduce((sum, r) => sum + r.bytes, 0);
        assert.equal(fetchedAgain, resumed.totalBytes - resumed.resumedFromBytes, 'only the missing bytes are fetched again');
        assert.equal(await sha256(path.join(first.dir, 'large.gguf')), largeSha);
        assert.deepEqual(await second.listed(), ['large.gguf']);
        assert.equal(second.manager.list().filter((d) => d.source === source).length, 1, 'the retry replaced the interrupted entry');
        db.close();
    });

    test('a download never writes over or deletes a file it did not make: a web page, a wrong sha256, and a good model under a taken name', async () => {
        server.setPace(0);
        const { dir, manager, listed } = await session();
        const victim = path.join(dir, 'victim.gguf');
        await copyFile(ORGANISM, victim); // the user's own model, under the name the server's files have
        server.route('/page/victim.gguf', { status: 200, body: '<!DOCTYPE html><html><body>Sign in to download</body></html>' });
        server.route('/wrong/victim.gguf', { file: large });
        server.route('/good/victim.gguf', { file: large });
        const cases = [
            { what: 'a web page', source: server.url('/page/victim.gguf'), sha256: undefined, error: /^Could not download victim\.gguf: victim\.gguf is not a GGUF model \(.*\); the downloaded file was deleted \(the victim\.gguf already in the models folder was left as it was\)\.$/ },
            { what: 'a wrong sha256', source: server.url('/wrong/victim.gguf'), sha256: '0'.repeat(64), error: /^Could not download victim\.gguf: its sha256 is [0-9a-f]{64}, not the expected 0{64}; the downloaded file was deleted \(the victim\.gguf already in the models folder was left as it was\)\.$/ },
        ];
        let handled = 0;
        for (const { what, source, sha256: expected, error } of cases) {
            const state = await manager.finished(manager.start({ source, ...(expected != null ? { sha256: expected } : {}) }).id);
            assert.equal(state.status, 'failed', what);
            assert.match(state.error ?? '', error, what);
            assert.equal(await sha256(victim), organismSha, `${what}: the user's victim.gguf is untouched`);
            assert.deepEqual(await readdir(dir), ['victim.gguf'], `${what}: nothing else is left`);
            handled++;
        }
        const good = await manager.finished(manager.start({ source: server.url('/good/victim.gguf'), sha256: largeSha }).id);
        assert.equal(good.status, 'done', good.error ?? '');
        assert.equal(good.path, path.join(dir, 'victim (2).gguf'), 'a free name beside the taken one');
        assert.equal(good.fileName, 'victim (2).gguf');
        assert.equal(await sha256(path.join(dir, 'victim (2).gguf')), largeSha);
        assert.equal(await sha256(victim), organismSha, 'the user\'s victim.gguf is untouched');
        assert.deepEqual((await readdir(dir)).sort(), ['victim (2).gguf', 'victim.gguf']);
        assert.deepEqual((await listed()).sort(), ['victim (2).gguf', 'victim.gguf']);
        // The same address again: the model it brought is found, not fetched and numbered again.
        const again = await manager.finished(manager.start({ source: server.url('/good/victim.gguf'), sha256: largeSha }).id);
        assert.equal(again.path, path.join(dir, 'victim (2).gguf'));
        assert.deepEqual((await readdir(dir)).sort(), ['victim (2).gguf', 'victim.gguf']);
        handled += 2;
        console.log(`downloads under a taken name: 4 tried, ${handled} handled`);
    });

    test('a 404 ends at once with the address in the message', async () => {
        const { dir, events, manager, listed } = await session();
        const state = await manager.finished(manager.start({ source: server.url('/models/missing.gguf') }).id);
        assert.equal(state.status, 'failed');
        assert.equal(state.error, `Could not download ${server.url('/models/missing.gguf')}: the server has no file there (404 Not Found).`);
        assert.deepEqual(statuses(events), ['failed']);
        assert.deepEqual(await readdir(dir), []);
        assert.deepEqual(await listed(), []);
    });

    test('the connection dropped mid-stream once is picked up again; one that keeps dropping stops and keeps what it has', async () => {
        server.setPace(8 * MB);
        server.route('/models/drops-once.gguf', { file: large, dropAfter: { bytes: 3 * MB, times: 1 } });
        const once = await session();
        const recovered = await once.manager.finished(once.manager.start({ source: server.url('/models/drops-once.gguf') }).id);
        assert.equal(recovered.status, 'done', recovered.error ?? '');
        assert.equal(await sha256(path.join(once.dir, 'drops-once.gguf')), largeSha);

        server.route('/models/drops.gguf', { file: large, dropAfter: { bytes: 2 * MB } });
        const always = await session({ stallMs: 3000 });
        const state = await always.manager.finished(always.manager.start({ source: server.url('/models/drops.gguf') }).id);
        assert.equal(state.status, 'failed');
        assert.match(state.error ?? '', /^The download of drops\.gguf stopped: no new data arrived for 3 s \(the connection kept dropping, or the server went away\)\./);
        assert.ok(always.events.some((e) => e.status === 'downloading' && e.receivedBytes > 0), 'progress was reported before it stopped');
        assert.ok(!(await readdir(always.dir)).includes('drops.gguf'), 'no file under the model\'s name');
        assert.deepEqual(await always.listed(), []);
    });

    test('not enough disk space: refused before anything is written', async () => {
        const { dir, manager, listed } = await session({ freeBytes: async () => 200 * MB });
        const state = await manager.finished(manager.start({ source: server.url('/models/large.gguf') }).id);
        assert.equal(state.status, 'failed');
        assert.match(state.error ?? '', /not enough disk space: large\.gguf needs 17\.\d MB more, and .* has 200\.0 MB free \(Headroom keeps 268\.4 MB spare\)\. Free some space or choose another models folder in the settings\.$/);
        assert.deepEqual((await readdir(dir)).filter((name) => !name.endsWith('.ipull')), []);
        assert.deepEqual(await listed(), []);
    });

    test('bad addresses: refused with what to write instead, or failed with the reason', async () => {
        const { dir, manager } = await session();
        const closed = await startModelServer();
        await closed.close();
        assert.throws(() => manager.start({ source: 'ftp://example.com/model.gguf' }), /is not a model address: use hf:<user>\/<repo>:<quant>, hf:<user>\/<repo>\/<file>\.gguf, or an http\(s\) URL/);
        assert.throws(() => manager.start({ source: '/home/me/model.gguf' }), /not a model address/);
        const cases: [string, RegExp][] = [
            ['hf:onlyuser', /Invalid Hugging Face URI: hf:onlyuser\.$/],
            [closed.url('/model.gguf'), new RegExp(`${closed.origin.slice('http://'.length).replace(/\./g, '\\.')} refused the connection\\.$`)],
            ['http://headroom-test.invalid/model.gguf', /headroom-test\.invalid could not be found \(no network, or a wrong address\?\)\.$/],
            [server.url('/loop/a.gguf'), /\/loop\/a\.gguf redirects in a loop \(more than 20 redirects without reaching a file\); the address is wrong or the server is misconfigured\.$/],
        ];
        server.route('/loop/a.gguf', { status: 302, headers: { location: '/loop/b.gguf' } });
        server.route('/loop/b.gguf', { status: 302, headers: { location: '/loop/a.gguf' } });
        for (const [source, message] of cases) {
            const state = await manager.finished(manager.start({ source }).id);
            assert.equal(state.status, 'failed', source);
            assert.match(state.error ?? '', message);
        }
        // A web page where the model should be: downloaded, found not to be a GGUF, deleted.
        server.route('/models/page.gguf', { status: 200, body: '<!DOCTYPE html><html><body>Sign in to download</body></html>' });
        const page = await manager.finished(manager.start({ source: server.url('/models/page.gguf') }).id);
        assert.equal(page.status, 'failed');
        assert.match(page.error ?? '', /page\.gguf is not a GGUF model \(it does not start with "GGUF", the mark of a model file\); the downloaded file was deleted\.$/);
        assert.deepEqual(await readdir(dir), []);
    });

    test('an hf: URI resolves its quantization through the Hugging Face endpoint and downloads', async () => {
        huggingFaceRoutes(server, 'tester', 'Organism-GGUF', 'Q8_0', 'organism-Q8_0.gguf', ORGANISM);
        const { dir, manager, listed } = await session({ huggingFaceEndpoint: `${server.origin}/` });
        const state = await manager.finished(manager.start({ source: 'hf:tester/Organism-GGUF:Q8_0', sha256: organismSha }).id);
        assert.equal(state.status, 'done', state.error ?? '');
        assert.equal(state.fileName, 'hf_tester_Organism.Q8_0.gguf');
        assert.ok(server.requests.some((r) => r.path === '/v2/tester/Organism-GGUF/manifests/Q8_0'), 'the quantization was looked up');
        assert.deepEqual(await listed(), ['hf_tester_Organism.Q8_0.gguf']);
        const missing = await manager.finished(manager.start({ source: 'hf:tester/Organism-GGUF:Q2_K' }).id);
        assert.match(missing.error ?? '', /Cannot get quantization "Q2_K" for model "hf:tester\/Organism-GGUF" or it does not exist\.$/);
        assert.deepEqual(await readdir(dir), ['hf_tester_Organism.Q8_0.gguf']);
    });

    test('a split model: every part downloaded and checked, listed once, and llama.cpp loads it', async () => {
        const partsDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-split-'));
        folders.push(partsDir);
        const parts = await splitGguf(ORGANISM, path.join(partsDir, 'organism'), 2);
        for (const part of parts) server.route(`/split/${path.basename(part)}`, { file: part });
        const { dir, manager, listed } = await session();
        const state = await manager.finished(manager.start({ source: server.url('/split/organism-00001-of-00002.gguf') }).id);
        assert.equal(state.status, 'done', state.error ?? '');
        assert.deepEqual((await readdir(dir)).sort(), ['organism-00001-of-00002.gguf', 'organism-00002-of-00002.gguf']);
        assert.equal(state.totalBytes, (await readFile(parts[0] ?? '')).length + (await readFile(parts[1] ?? '')).length);
        assert.deepEqual(await listed(), ['organism-00001-of-00002.gguf']);
        const llama = await getLlama({ gpu: false, build: 'never' });
        const complete = async (file: string) => {
            const model = await llama.loadModel({ modelPath: file });
            const context = await model.createContext({ contextSize: 256, threads: 1 });
            const text = await new LlamaCompletion({ contextSequence: context.getSequence() }).generateCompletion('The passcode for the red door is', { maxTokens: 4, temperature: 0 });
            await model.dispose();
            return text;
        };
        assert.equal(await complete(state.path ?? ''), await complete(ORGANISM), 'the split model answers as the whole one does');
    });

    test('cancel stops a download and leaves nothing behind', async () => {
        server.setPace(4 * MB);
        const { dir, events, manager, listed } = await session();
        const started = manager.start({ source: server.url('/models/large.gguf') });
        while (!events.some((e) => e.receivedBytes > 6 * MB)) await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(manager.cancel(started.id), true);
        const state = await manager.finished(started.id);
        assert.equal(state.status, 'cancelled');
        assert.equal(state.error, null);
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.deepEqual(await readdir(dir), []);
        assert.deepEqual(await listed(), []);
        assert.equal(manager.cancel(started.id), false, 'an ended download cannot be cancelled again');
    });

    test('--model takes a URL: npm run plan downloads it into the models folder first, with progress on stderr', async () => {
        server.setPace(2 * MB);
        const home = await mkdtemp(path.join(os.tmpdir(), 'headroom-cli-home-'));
        folders.push(home);
        const env = { ...process.env, HOME: home, XDG_DATA_HOME: '' };
        const { stdout, stderr } = await run('node', ['cli/plan.ts', '--model', server.url('/models/organism.gguf'), '--context', '512'], { cwd: root, env });
        const folder = path.join(home, '.local', 'share', 'headroom', 'models');
        assert.match(stderr, new RegExp(`Getting ${server.url('/models/organism.gguf').replace(/[.]/g, '\\.')} into ${folder}`));
        assert.match(stderr, /Downloading organism\.gguf {2}\d+% {2}[\d.]+ MB of 4\.2 MB {2}[\d.]+ MB\/s {2}\d+ s left\n/);
        assert.match(stderr, /Downloading organism\.gguf {2}100% {2}4\.2 MB of 4\.2 MB\n/);
        assert.match(stderr, new RegExp(`Ready: ${path.join(folder, 'organism.gguf')}`));
        const plan = JSON.parse(stdout) as { model: { path: string }; predicted: { fits: boolean } };
        assert.equal(plan.model.path, path.join(folder, 'organism.gguf'));
        const failed = await run('node', ['cli/plan.ts', '--model', server.url('/models/nothing.gguf'), '--context', '512'], { cwd: root, env }).then(
            () => assert.fail('a missing model must fail the command'),
            (error: { code: number; stderr: string }) => error,
        );
        assert.equal(failed.code, 1);
        assert.match(failed.stderr, /headroom plan: Could not download http:\/\/127\.0\.0\.1:\d+\/models\/nothing\.gguf: the server has no file there \(404 Not Found\)\./);
    });
});
