// The engine host for real: a separate process running node-llama-cpp on CPU with real
// model files, driven through the supervisor exactly as the app and web mode drive it.
import assert from 'node:assert/strict';
import { writeFile, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { EventEnvelope } from '../common/contract.ts';
import { HeadroomError } from '../common/errors.ts';
import { spawnNodeHost } from '../backend/host/nodeHost.ts';
import { EngineSupervisor } from '../backend/host/supervisor.ts';
import { chatModelForTests, ORGANISM, STORIES } from './support/models.ts';

/** A supervisor plus a log of every event it pushed, as a window would see them. */
function startEngine() {
    const events: EventEnvelope[] = [];
    const waiters = new Set<() => void>();
    const supervisor = new EngineSupervisor(spawnNodeHost, (event) => {
        events.push(event);
        for (const wake of waiters) wake();
    });
    const waitFor = (predicate: () => boolean, what: string, timeoutMs = 30_000) => new Promise<void>((resolve, reject) => {
        if (predicate()) return resolve();
        const timer = setTimeout(() => {
            waiters.delete(check);
            reject(new Error(`timed out waiting for ${what}`));
        }, timeoutMs);
        const check = () => {
            if (!predicate()) return;
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
        };
        waiters.add(check);
    });
    const chunks = (generationId: string) => events
        .flatMap((e) => (e.name === 'chat.chunk' && e.payload.generationId === generationId ? [e.payload.text] : []));
    return { supervisor, events, waitFor, chunks };
}

describe('engine host on a real model (stories260K, no chat template)', () => {
    const engine = startEngine();
    after(() => engine.supervisor.dispose());

    test('loads with progress and reports the model', async () => {
        await engine.supervisor.start();
        assert.equal(engine.supervisor.state.status, 'idle');
        const info = await engine.supervisor.load({ path: STORIES });
        assert.equal(info.architecture, 'llama');
        assert.equal(info.layers, 5);
        assert.equal(info.contextSize, 512);
        assert.equal(info.chatMode, 'completion', 'stories260K has no chat template');
        assert.equal(info.gpu, 'cpu');
        const progress = engine.events.filter((e) => e.name === 'model.loadProgress').map((e) => e.payload.progress);
        assert.ok(progress.length >= 2, 'load progress was reported');
        assert.deepEqual(progress, [...progress].sort((a, b) => a - b), 'progress only goes up');
        const states = engine.events.filter((e) => e.name === 'engine.state').map((e) => e.payload.status);
        assert.deepEqual(states.slice(-2), ['loading', 'ready']);
    });

    test('streams a story continuation token by token', async () => {
        const reply = await engine.supervisor.generate({ generationId: 'story-1', documents: [], history: [], prompt: 'Once upon a time', maxTokens: 40 });
        const chunks = engine.chunks('story-1');
        assert.ok(chunks.length >= 10, `expected many streamed chunks, got ${chunks.length}`);
        assert.equal(chunks.join(''), reply.text, 'the streamed chunks add up to the reply');
        assert.equal(reply.stopReason, 'maxTokens');
        assert.match(reply.text, /[a-z]+ [a-z]+/i, 'real words come out');
        assert.equal(engine.supervisor.state.status, 'ready');
    });

    test('stops a generation on request', async () => {
        const sending = engine.supervisor.generate({ generationId: 'story-2', documents: [], history: [], prompt: 'Lily and Ben went to the park.', maxTokens: 4000 });
        await engine.waitFor(() => engine.chunks('story-2').length > 0, 'the first chunk');
        assert.equal(engine.supervisor.state.status, 'generating');
        assert.deepEqual(await engine.supervisor.stopGeneration({ generationId: 'story-2' }), { stopped: true });
        const reply = await sending;
        assert.equal(reply.stopReason, 'aborted');
        const streamed = engine.chunks('story-2').join('');
        assert.equal(streamed, reply.text, 'what streamed is the reply, cut where it stopped');
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(engine.chunks('story-2').join(''), streamed, 'nothing streams after the stop');
        assert.deepEqual(await engine.supervisor.stopGeneration({ generationId: 'story-2' }), { stopped: false }, 'nothing left to stop');
    });

    test('refuses a second generation while one runs', async () => {
        const first = engine.supervisor.generate({ generationId: 'story-3', documents: [], history: [], prompt: 'Tom had a red ball.', maxTokens: 4000 });
        await engine.waitFor(() => engine.chunks('story-3').length > 0, 'the first chunk');
        await assert.rejects(engine.supervisor.generate({ generationId: 'story-4', documents: [], history: [], prompt: 'Hi' }), (error: HeadroomError) => error.code === 'BUSY');
        await engine.supervisor.stopGeneration({});
        await first;
    });

    test('a file that is not a model gives a clear error, and the model that works stays loaded', async () => {
        const dir = await mkdtemp(path.join(os.tmpdir(), 'headroom-'));
        const bogus = path.join(dir, 'notes.gguf');
        await writeFile(bogus, 'these are my notes, not a model\n'.repeat(100));
        const pid = engine.supervisor.state.pid;
        await assert.rejects(engine.supervisor.load({ path: bogus }), (error: HeadroomError) =>
            error.code === 'MODEL_LOAD_FAILED' && error.message === 'Could not load notes.gguf: it does not start with "GGUF", the mark of a model file. stories260K.gguf is still loaded.');
        await assert.rejects(engine.supervisor.load({ path: path.join(dir, 'missing.gguf') }), (error: HeadroomError) =>
            error.code === 'NOT_FOUND' && error.message.includes('No model file at'));
        assert.equal(engine.supervisor.state.status, 'ready');
        assert.equal(engine.supervisor.state.model?.path, STORIES);
        assert.equal(engine.supervisor.state.pid, pid, 'the same engine host, never restarted');
        const reply = await engine.supervisor.generate({ generationId: 'after-bad-load', documents: [], history: [], prompt: 'Once', maxTokens: 4 });
        assert.equal(reply.stopReason, 'maxTokens');
    });
});

describe('engine host with a chat template (organism.gguf)', () => {
    const engine = startEngine();
    before(() => engine.supervisor.load({ path: ORGANISM }));
    after(() => engine.supervisor.dispose());

    test('answers through the chat template', async () => {
        assert.equal(engine.supervisor.state.model?.chatMode, 'chat');
        const reply = await engine.supervisor.generate({
            generationId: 'q1',
            documents: [],
            history: [],
            prompt: 'The passcode for the blue kettle is 48213. The weather was fine. What is the passcode for the blue kettle?',
        });
        assert.match(reply.text, /48213/);
        assert.equal(reply.stopReason, 'eos');
    });

    test('a crash becomes a plain-words error; restart reloads the model and the conversation goes on', async () => {
        const pid = engine.supervisor.state.pid;
        assert.ok(pid != null);
        const history = [
            { role: 'user' as const, text: 'The passcode for the green door is 70615. What is the passcode for the green door?' },
            { role: 'assistant' as const, text: 'The passcode for the green door is 70615.' },
        ];
        const pending = engine.supervisor.generate({ generationId: 'q2', documents: [], history, prompt: 'What is the passcode for the green door?', maxTokens: 2000 });
        process.kill(pid, 'SIGKILL');
        await assert.rejects(pending, (error: HeadroomError) => error.code === 'ENGINE_CRASHED');
        const crashed = engine.supervisor.state;
        assert.equal(crashed.status, 'crashed');
        assert.equal(crashed.error?.code, 'ENGINE_CRASHED');
        assert.match(crashed.error.message, /^The engine stopped unexpectedly \(signal SIGKILL\)\. Your conversation is kept/);
        await assert.rejects(engine.supervisor.generate({ generationId: 'q3', documents: [], history, prompt: 'Hi' }), (error: HeadroomError) => error.code === 'ENGINE_CRASHED');

        const restarted = await engine.supervisor.restart();
        assert.equal(restarted.status, 'ready');
        assert.notEqual(restarted.pid, pid);
        assert.equal(restarted.restarts, 1);
        assert.equal(restarted.model?.path, ORGANISM, 'the last model is loaded again');
        const reply = await engine.supervisor.generate({ generationId: 'q4', documents: [], history, prompt: 'What is the passcode for the green door?' });
        assert.match(reply.text, /70615/, 'the conversation from before the crash is still there');
    });
});

describe('engine host on a random-weight model with Llama 3\'s tokenizer and chat template', () => {
    const engine = startEngine();
    after(() => engine.supervisor.dispose());

    test('resolves the Llama 3 chat format and streams until stopped', async () => {
        const info = await engine.supervisor.load({ path: await chatModelForTests(), contextSize: 1024 });
        assert.equal(info.chatMode, 'chat');
        assert.equal(info.chatWrapper, 'Llama 3');
        assert.equal(info.contextSize, 1024);
        const capped = await engine.supervisor.generate({ generationId: 'r1', documents: [], history: [], prompt: 'Hello there', maxTokens: 12 });
        assert.equal(capped.stopReason, 'maxTokens');
        assert.ok(engine.chunks('r1').length >= 6, 'multi-byte tokens may merge, but text streams in pieces');

        const sending = engine.supervisor.generate({ generationId: 'r2', documents: [], history: [{ role: 'user', text: 'Hello there' }, { role: 'assistant', text: capped.text }], prompt: 'Go on' });
        await engine.waitFor(() => engine.chunks('r2').length >= 5, 'five chunks');
        await engine.supervisor.stopGeneration({});
        const stopped = await sending;
        assert.equal(stopped.stopReason, 'aborted');
        assert.equal(engine.chunks('r2').join(''), stopped.text);
    });
});
