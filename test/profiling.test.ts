// Profiling a model's heads and testing its recall from the app: the backend runs each job in an
// engine host of its own, streams progress, can cancel it, stores the profile by the model file's
// sha256, and compression on by default ("auto") follows it.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { PROFILING_NEEDS_ENGINE, type HeadroomError } from '../common/errors.ts';
import { NO_PROFILE_YET } from '../common/kv/policy.ts';
import { DEFAULT_SETTINGS } from '../common/settings.ts';
import { openBackend } from './support/backend.ts';
import { ORGANISM } from './support/models.ts';
import { requiresNative } from './support/native.ts';

// Read by every engine host the backends start: profiles go to a folder of this test's own.
const profiles = await mkdtemp(path.join(os.tmpdir(), 'headroom-app-profiles-'));
process.env.HEADROOM_PROFILE_DIR = profiles;
const storedProfiles = () => (existsSync(profiles) ? readdirSync(profiles).filter((name) => name.endsWith('.json')) : []);

/** A backend on a data folder of its own: a fresh settings file. */
const freshBackend = () => openBackend(mkdtempSync(path.join(os.tmpdir(), 'headroom-app-')));

describe('compression on by default, and profiling heads from the app (organism.gguf)', requiresNative(), () => {
    const { backend, events, call } = freshBackend();
    after(() => backend.dispose());
    // What a window sends when it loads a model: its path, with a one-off 2,048-token context (the backend builds the rest from the saved settings, here the defaults).
    const load = () => call('model.load', { path: ORGANISM, overrides: { contextSize: 2048 } });
    const request = { path: ORGANISM, prompts: 3, tokens: 512, contextSize: 2048, validationPrompts: 2 };

    test('a fresh settings file asks for auto compression; without a profile the model runs the full cache and says why', async () => {
        assert.equal(DEFAULT_SETTINGS.kvMode, 'auto');
        assert.equal(backend.settings.settings.kvMode, 'auto');
        const info = await load();
        assert.deepEqual(info.kv, { available: true, active: false, reason: NO_PROFILE_YET });
        assert.deepEqual([info.kvMode, info.headProfile], ['auto', null]);
    });

    test('the chat engine estimates what profiling takes here, from the prompt speed it measures', async () => {
        const estimate = await call('kv.profileEstimate', request);
        // 3 scoring prompts of 512 tokens, then 2 held-out prompts of 2,048 tokens: the full cache and log2(16 + 1) -> 5 plans.
        assert.equal(estimate.tokens, 3 * 512 + 6 * 2 * 2048);
        assert.equal(estimate.validationTokens, 2048);
        assert.ok(estimate.tokensPerSecond > 0 && estimate.seconds >= 0, JSON.stringify(estimate));
        await assert.rejects(call('kv.profileEstimate', { path: '/elsewhere/model.gguf' }), (error: HeadroomError) => error.code === 'BAD_REQUEST');
    });

    test('a cancel ends the job in its host: the request says so, nothing is stored, the chat engine carries on', async () => {
        const running = call('kv.profile', request);
        const started = Date.now();
        while (!events.some((e) => e.name === 'kv.profileProgress') && Date.now() - started < 60_000) await new Promise((resolve) => setTimeout(resolve, 50));
        assert.deepEqual(await call('kv.cancel', {}), { cancelled: true });
        await assert.rejects(running, (error: HeadroomError) => error.code === 'CANCELLED' && error.message === 'Profiling was cancelled.');
        assert.deepEqual(storedProfiles(), []);
        assert.deepEqual(await call('kv.cancel', {}), { cancelled: false }, 'nothing left to cancel');
        assert.equal(backend.supervisor.state.status, 'ready');
    });

    test('profiles in stages with progress and time left, one job at a time, stores the profile, and reuses it', async () => {
        events.length = 0;
        const running = call('kv.profile', request);
        await assert.rejects(call('kv.profile', request), (error: HeadroomError) => error.code === 'BUSY');
        await assert.rejects(call('kv.testRecall', {}), (error: HeadroomError) => error.code === 'BUSY' && /Already profiling/.test(error.message));
        const result = await running;
        assert.equal(result.reused, false);
        assert.equal(result.method, 'attention');
        assert.equal(path.dirname(result.file), profiles);
        assert.ok(existsSync(result.file));
        assert.equal(`${result.topHeads[0]?.layer}:${result.topHeads[0]?.head}`, '3:1', JSON.stringify(result.topHeads));
        assert.equal(result.validation?.verdict, 'validated');
        assert.equal(result.validation.contextTokens, 2048, 'validated at the context the user runs');
        const progress = events.filter((e) => e.name === 'kv.profileProgress').map((e) => e.payload);
        assert.ok(progress.length >= 5, `${progress.length} progress events`);
        assert.deepEqual([...new Set(progress.map((p) => p.stage))], ['scoring', 'validating']);
        assert.ok(progress.every((p, i) => p.done <= p.total && (i === 0 || p.done >= (progress[i - 1]?.done ?? 0))), 'done only grows');
        assert.ok(progress.some((p) => p.etaSeconds != null), 'time left, once measured');
        assert.equal(progress.at(-1)?.done, progress.at(-1)?.total, 'ends at 100%');

        const again = await call('kv.profile', request);
        assert.equal(again.reused, true);
        assert.equal(again.file, result.file);
    });

    test('with the stored profile, a fresh settings file loads the model compressed and says whose profile it is', async () => {
        const other = freshBackend();
        try {
            const info = await other.call('model.load', { path: ORGANISM, overrides: { contextSize: 2048 } });
            assert.deepEqual(info.kv, { available: true, active: true, reason: null });
            assert.equal(info.headProfile?.origin, 'stored');
            assert.match(info.headProfile.description, /^Measured on this machine \(attention scores, validated at 2,048 tokens\)$/);
            const stats = await other.backend.supervisor.kvStats();
            assert.equal(stats.policy[3]?.[1], 'full', 'the retrieval head keeps every token');
            assert.ok(stats.policy.flat().includes('streaming'));
        } finally {
            other.backend.dispose();
        }
    });

    test('test recall: the loaded model with its plan and with the full cache, needles then follow-up questions, with progress; lengths beyond its context are refused', async () => {
        await load();
        events.length = 0;
        const recall = await call('kv.testRecall', { lengths: [384, 768], depths: [0.5] });
        assert.equal(recall.full.kv.mode, 'off');
        assert.equal(recall.compressed?.kv.mode, 'auto');
        assert.ok((recall.compressed.fullHeads ?? 0) >= 1);
        assert.deepEqual(recall.full.trials.map((t) => [t.contextTokens, t.depth]), [[384, 0.5], [768, 0.5]]);
        assert.equal(recall.full.accuracy, 1, JSON.stringify(recall.full.trials));
        // One follow-up chat at 768 tokens (384 leaves no room for its document): 4 questions in turn, the later ones reusing the document.
        const followUps = recall.followUps;
        assert.ok(followUps?.compressed != null);
        assert.deepEqual([followUps.full.kv.mode, followUps.compressed.kv.mode, followUps.compressed.fullHeads], ['off', 'auto', recall.compressed.fullHeads]);
        for (const run of [followUps.full, followUps.compressed]) {
            assert.deepEqual(run.answers.map((a) => [a.task, a.contextTokens, a.chat, a.turn]), [0, 1, 2, 3].map((turn) => ['multiquery', 768, 0, turn]));
            assert.ok(run.answers.slice(1).every((a) => a.reusedTokens > a.promptTokens / 2), `follow-ups reuse the document: ${JSON.stringify(run.answers.map((a) => [a.promptTokens, a.reusedTokens]))}`);
            assert.ok(run.answers.every((a) => a.promptTokens <= 768 - 32 && /^\d{5}$/.test(a.expected)));
        }
        assert.ok(followUps.full.answers.some((a) => a.correct), `the full cache answers some: ${JSON.stringify(followUps.full.answers.map((a) => a.answer))}`);
        const progress = events.filter((e) => e.name === 'kv.recallProgress').map((e) => e.payload);
        assert.deepEqual(progress.map((p) => `${p.cache} ${p.task} ${p.done}/${p.total}`), [
            ...['niah 1', 'niah 2', 'multiquery 3', 'multiquery 4', 'multiquery 5', 'multiquery 6'].map((step) => `compressed ${step}/12`),
            ...['niah 7', 'niah 8', 'multiquery 9', 'multiquery 10', 'multiquery 11', 'multiquery 12'].map((step) => `full ${step}/12`),
        ]);
        await assert.rejects(call('kv.testRecall', { lengths: [4096] }), (error: HeadroomError) => error.code === 'BAD_REQUEST' && /do not fit the 2048-token context/.test(error.message));
    });

    test('with the Engine setting on the stock llama.cpp, profiling refuses and says what it needs', async () => {
        backend.settings.update({ engine: 'stock' });
        await assert.rejects(call('kv.profile', { ...request, force: true }), (error: HeadroomError) => error.code === 'NOT_AVAILABLE' && error.message === PROFILING_NEEDS_ENGINE);
    });
});
