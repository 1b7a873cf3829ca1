// The engine host with head-level KV compression: through the supervisor, as the app uses it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import type { EventEnvelope } from '../common/contract.ts';
import type { HeadroomError } from '../common/errors.ts';
import { spawnNodeHost } from '../backend/host/nodeHost.ts';
import { EngineSupervisor } from '../backend/host/supervisor.ts';
import { BUILD_ENV } from '../engine/kv/native.ts';
import { HeadProfile, KV_OFF, kvBytes, KvOptions, NO_PROFILE_YET, rankHeads, type HeadPlan, type HeadPolicy } from '../common/kv/policy.ts';
import { createModelContext, openModel } from '../engine/load.ts';
import { PlanRequest } from '../common/plan.ts';
import { chatModelForTests, ORGANISM } from './support/models.ts';
import { requiresNative } from './support/native.ts';

/** A supervisor whose engine host loads the given llama.cpp binary. */
function newSupervisor(build: 'stock' | 'headwise'): EngineSupervisor {
    const events: EventEnvelope[] = [];
    return new EngineSupervisor(() => spawnNodeHost({ [BUILD_ENV]: build }), (e) => events.push(e));
}

const FILLER = 'This package is free software; you can redistribute it and/or modify it under the terms of the GNU '
    + 'General Public License as published by the Free Software Foundation; either version 2 of the License, or (at '
    + 'your option) any later version. On Debian systems, the complete text of the GNU General Public License version '
    + '2 can be found in /usr/share/common-licenses/GPL-2. ';

// The host looks up stored head profiles here (inherited when it is spawned): empty unless a test profiles.
const profiles = await mkdtemp(path.join(os.tmpdir(), 'headroom-profiles-'));
process.env.HEADROOM_PROFILE_DIR = profiles;

describe('engine with head-level KV compression (organism.gguf, 25% budget)', requiresNative(), () => {
    const supervisor = newSupervisor('headwise');
    after(() => supervisor.dispose());

    test('loads with compression active and reports it', async () => {
        const info = await supervisor.load({ path: ORGANISM, contextSize: 2048, kv: { mode: 'budget', budget: 0.25, sinks: 4, window: 128, offload: 'cpu' } });
        assert.deepEqual(info.kv, { available: true, active: true, reason: null });
    });

    test('kvStats: planned bytes are what llama.cpp allocated, a quarter of the stock cache', async () => {
        const stats = await supervisor.kvStats();
        assert.equal(stats.mode, 'budget');
        assert.equal(stats.profile, null, 'no profile: the fallback order');
        assert.equal(stats.contextCells, 2048);
        assert.equal(stats.streamingCells, 288, 'PAD(4 + max(128 + 128, 2 x 128 + 1), 32)');
        const stock = kvBytes({ layers: 4, kvHeads: 4, bytesPerHeadToken: 64, contextCells: 2048, ubatch: 128 }, null, 'cpu');
        assert.ok(stats.planned.cpu <= 0.25 * stock.cpu, `${stats.planned.cpu} <= 25% of ${stock.cpu}`);
        assert.ok(stats.allocated.cpu >= stats.planned.cpu && stats.allocated.cpu - stats.planned.cpu < 8192, `allocated ${stats.allocated.cpu}`);
        const fullHeads = stats.policy.flat().filter((p) => p === 'full').length;
        assert.equal(fullHeads, 2);
        assert.equal(stats.policy[3]?.[1], 'full', 'the fallback order keeps the last layer first');
    });

    test('answers a passkey question across a document longer than the window', async () => {
        const document = `${FILLER.repeat(3)}The passcode for the silver key is 30597. ${FILLER.repeat(6)}`;
        const reply = await supervisor.generate({ generationId: 'kv1', documents: [{ name: 'keys.txt', text: document }], history: [], prompt: 'What is the passcode for the silver key?' });
        assert.match(reply.text, /30597/);
        const stats = await supervisor.kvStats();
        assert.ok(stats.tokens.context > 600, `the document is in context (${stats.tokens.context} tokens)`);
        assert.equal(stats.tokens.streaming, 132, 'streaming heads hold sinks + window');
    });

    test('a chat that overflows the context is refused clearly, not truncated', async () => {
        const huge = FILLER.repeat(60);
        await assert.rejects(supervisor.generate({ generationId: 'kv2', documents: [{ name: 'huge.txt', text: huge }], history: [], prompt: 'What is in it?' }),
            (error: HeadroomError) => error.code === 'CONTEXT_OVERFLOW' && /needs [\d,]+ tokens .* the context holds 2,048/.test(error.message));
        assert.equal(supervisor.state.status, 'ready');
    });

    test('mode auto without a head profile runs the full cache and says so', async () => {
        const info = await supervisor.load({ path: ORGANISM, contextSize: 2048, kv: { mode: 'auto', sinks: 4, window: 128, offload: 'cpu' } });
        assert.deepEqual(info.kv, { available: true, active: false, reason: NO_PROFILE_YET });
        assert.deepEqual([info.kvMode, info.headProfile], ['auto', null]);
        const stats = await supervisor.kvStats();
        assert.ok(stats.policy.flat().every((p) => p === 'full'));
        const plan = await supervisor.plan(PlanRequest.parse({ path: ORGANISM, contextSize: 2048, kv: { mode: 'auto' } }));
        assert.equal(plan.budget, null, 'the planner plans what the load runs: the full cache');
        assert.ok(plan.notes.some((note) => /No head profile for this model yet: "auto" runs the full cache/.test(note)), plan.notes.join(' | '));
    });

    test('mode auto uses the profile `npm run profile` stored for the model file; so does the memory planner', async () => {
        const profiled = await promisify(execFile)(process.execPath, ['bench/profileCli.ts', '--model', ORGANISM, '--prompts', '3', '--tokens', '512', '--context', '2048', '--validation-prompts', '2'], { env: process.env });
        const stored = profiled.stdout.trim();
        assert.equal(path.dirname(stored), profiles);
        const profile = HeadProfile.parse(JSON.parse(await readFile(stored, 'utf8')));
        const ranked = rankHeads(profile.scores).map((h) => `${h.layer}:${h.head}`);
        assert.equal(ranked[0], '3:1', `the retrieval head ranks first: ${JSON.stringify(profile.scores)}`);
        const fullHeads = (policy: string[][]) => policy.flatMap((row, layer) => row.flatMap((p, head) => p === 'full' ? [`${layer}:${head}`] : [])).sort();
        const kv = { mode: 'auto', sinks: 4, window: 128, offload: 'cpu' } as const;

        const plan = await supervisor.plan(PlanRequest.parse({ path: ORGANISM, contextSize: 2048, kv }));
        // at the context it was validated at, the profile's heads cost its recommended budget (rounded up to thousandths)
        assert.ok(plan.budget != null && Math.abs(plan.budget - profile.recommendedBudget) < 0.001, `${plan.budget} vs ${profile.recommendedBudget}`);
        assert.ok(plan.notes.every((note) => !/No head profile/.test(note)), plan.notes.join(' | '));
        const planned = fullHeads(plan.kv.heads.map((row) => row.map((h) => h.policy)));
        assert.ok(planned.length >= 1 && planned.length < 16, planned.join(' '));
        assert.equal(planned.length, profile.fullHeads, 'the profile\'s count of full heads');
        assert.deepEqual(planned, ranked.slice(0, planned.length).sort(), 'the best-scoring heads');
        assert.equal(plan.kv.heads[3]?.[1]?.score, profile.scores[3]?.[1]);

        const info = await supervisor.load({ path: ORGANISM, contextSize: 2048, kv });
        assert.equal(info.kv.active, true);
        assert.equal(info.headProfile?.origin, 'stored');
        const stats = await supervisor.kvStats();
        assert.deepEqual(stats.profile, { source: 'profiler', path: stored, origin: 'stored', description: 'Measured on this machine (attention scores, validated at 2,048 tokens)' });
        assert.equal(stats.budget, plan.budget);
        assert.deepEqual(fullHeads(stats.policy), planned, 'the profiled heads, as planned');
    });
});

describe('a context that cannot be made says why', requiresNative(), () => {
    const supervisor = newSupervisor('headwise');
    after(() => supervisor.dispose());

    test('a budget that keeps no head full at this context is refused with the smallest that keeps one; the model stays usable', async () => {
        await assert.rejects(supervisor.load({ path: ORGANISM, contextSize: 1024, kv: KvOptions.parse({ mode: 'budget', budget: 0.25 }) }),
            (error: HeadroomError) => error.code === 'BAD_REQUEST' && /A budget of 0\.25 keeps no head full at 1,024 tokens/.test(error.message)
                && /The smallest budget that keeps one head full is 0\.327/.test(error.message));
        const info = await supervisor.load({ path: ORGANISM, contextSize: 1024, kv: KvOptions.parse({ mode: 'budget', budget: 0.327 }) });
        assert.equal(info.kv.active, true);
    });

    test('a quantized cache with flash attention off: the one rule, in its words, before llama.cpp is asked', async () => {
        await assert.rejects(supervisor.load({ path: await chatModelForTests(), contextSize: 1024, kvCacheType: 'q8_0', flashAttention: 'off', kv: KV_OFF }),
            (error: HeadroomError) => error.code === 'BAD_REQUEST' && error.field === 'kvCacheType' && /A q8_0 cache needs flash attention \(set it to auto or on\)\./.test(error.message));
    });

    test('a plan llama.cpp refuses is reported as that, not as memory', async () => {
        const opened = await openModel({ path: ORGANISM });
        try {
            // three layers' heads for a four-layer model
            const plan: HeadPlan = { policy: Array.from({ length: 3 }, () => Array<HeadPolicy>(4).fill('full')), sinks: 4, window: 64, fullPlacement: 'cpu' };
            await assert.rejects(createModelContext(opened, { contextSize: 512, kv: KvOptions.parse({ mode: 'budget', budget: 0.5 }), plan }),
                (error: HeadroomError) => error.code === 'MODEL_LOAD_FAILED'
                    && /llama\.cpp refused the head-level KV plan: headwise KV cache: the policy has 12 entries, the model has 16 KV heads \(4 layers\)/.test(error.message)
                    && !/memory/.test(error.message));
        } finally {
            await opened.dispose();
        }
    });
});

describe('engine on the stock binary: compression unavailable, said so', () => {
    const supervisor = newSupervisor('stock');
    after(() => supervisor.dispose());

    test('loads with the full cache and reports why', async () => {
        const info = await supervisor.load({ path: ORGANISM, contextSize: 1024, kv: { mode: 'budget', budget: 0.25, sinks: 4, window: 128, offload: 'auto' } });
        assert.equal(info.kv.available, false);
        assert.equal(info.kv.active, false);
        assert.match(info.kv.reason ?? '', /stock llama\.cpp runs, as chosen in Settings \(Engine\)/);
        const stats = await supervisor.kvStats();
        assert.equal(stats.mode, 'off');
        assert.ok(stats.allocated.cpu > 0, 'the stock buffer is reported');
        const reply = await supervisor.generate({ generationId: 's1', documents: [{ name: 'cup.txt', text: 'The passcode for the red cup is 11842.' }], history: [], prompt: 'What is the passcode for the red cup?' });
        assert.match(reply.text, /11842/);
    });
});

describe('a follow-up question reuses the document with compression on (random Llama-3 chat model)', requiresNative(), () => {
    const supervisor = newSupervisor('headwise');
    after(() => supervisor.dispose());
    const document = FILLER.repeat(28);
    const question = 'What does the license allow?';

    /** Two turns: a 400-token reply, then a follow-up; returns what each turn's prefill evaluated. */
    async function twoTurns(kv: KvOptions) {
        const info = await supervisor.load({ path: await chatModelForTests(), contextSize: 4096, kv });
        const first = await supervisor.generate({ generationId: `${kv.mode}-1`, documents: [{ name: 'license.txt', text: document }], history: [], prompt: question, maxTokens: 400 });
        const second = await supervisor.generate({
            generationId: `${kv.mode}-2`, documents: [{ name: 'license.txt', text: document }],
            history: [{ role: 'user', text: question }, { role: 'assistant', text: first.text }], prompt: 'And what does it forbid?', maxTokens: 8,
        });
        const evaluated = (read: { tokens: number; reusedTokens: number }) => read.tokens - 1 - read.reusedTokens;
        return { info, first: evaluated(first.prefill), second: evaluated(second.prefill), secondTokens: second.prefill.tokens, replyTokens: first.text.length };
    }

    test('after a 400-token reply on an 1,800-token document, the next turn evaluates the new turn\'s tokens, not the document\'s', async () => {
        const compressed = await twoTurns(KvOptions.parse({ mode: 'budget', budget: 0.5, offload: 'cpu' }));
        assert.equal(compressed.info.kv.active, true);
        assert.ok(compressed.first > 1700, `the first turn reads the document (${compressed.first} tokens)`);
        // the reply (re-rendered: its text is tokenized again) and the new question; the document and the first question are reused
        assert.ok(compressed.second < 520, `the follow-up evaluated ${compressed.second} of ${compressed.secondTokens} tokens`);
        assert.ok(compressed.secondTokens - compressed.second > 1700, 'the document was reused');

        const stock = await twoTurns(KV_OFF);
        assert.ok(stock.second < 520, `the stock cache evaluates ${stock.second} tokens`);
    });
});
