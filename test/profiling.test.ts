// Profiling a model's heads from the app: the backend runs the profiler in an engine host of its
// own, streams progress, stores the profile by the model file's sha256, and `auto` uses it.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { HeadroomError } from '../common/errors.ts';
import { openBackend } from './support/backend.ts';
import { ORGANISM } from './support/models.ts';
import { requiresNative } from './support/native.ts';

// Read by every engine host the backend starts: profiles go to a folder of this test's own.
const profiles = await mkdtemp(path.join(os.tmpdir(), 'headroom-app-profiles-'));
process.env.HEADROOM_PROFILE_DIR = profiles;

describe('profiling heads from the app (organism.gguf)', requiresNative(), () => {
    const { backend, events, call } = openBackend(profiles);
    after(() => backend.dispose());

    test('scores every head with progress, stores the profile, reuses it, and auto compression follows it', async () => {
        const request = { path: ORGANISM, prompts: 3, tokens: 384 };
        const running = call('kv.profile', request);
        await assert.rejects(call('kv.profile', request), (error: HeadroomError) => error.code === 'BUSY');
        const result = await running;
        assert.equal(result.reused, false);
        assert.equal(path.dirname(result.file), profiles);
        assert.ok(existsSync(result.file));
        assert.deepEqual(result.topHeads.slice(0, 2).map((h) => `${h.layer}:${h.head}`).includes('3:1'), true, JSON.stringify(result.topHeads));
        const progress = events.filter((e) => e.name === 'kv.profileProgress').map((e) => e.payload);
        assert.equal(progress.length, 16, 'one step per KV head');
        assert.deepEqual(progress.at(-1), { path: ORGANISM, done: 16, total: 16 });
        assert.ok(progress.every((p, i) => p.done === i + 1));

        const again = await call('kv.profile', request);
        assert.equal(again.reused, true);
        assert.equal(again.file, result.file);

        // The chat engine (its own host) finds the stored profile for `auto`.
        await backend.supervisor.load({ path: ORGANISM, contextSize: 2048, kv: { mode: 'auto', sinks: 4, window: 128, offload: 'auto' } });
        const stats = await backend.supervisor.kvStats();
        assert.deepEqual(stats.profile, { source: 'profiler', path: result.file });
        assert.equal(stats.budget, result.recommendedBudget);
        // At a set budget the heads kept full are the profile's best ones.
        await backend.supervisor.load({ path: ORGANISM, contextSize: 2048, kv: { mode: 'budget', budget: 0.25, sinks: 4, window: 128, offload: 'auto' } });
        const budgeted = await backend.supervisor.kvStats();
        assert.deepEqual(budgeted.profile, { source: 'profiler', path: result.file });
        const full = budgeted.policy.flatMap((row, layer) => row.flatMap((p, head) => (p === 'full' ? [`${layer}:${head}`] : [])));
        assert.equal(full.length, 2);
        assert.deepEqual(full.sort(), result.topHeads.slice(0, 2).map((h) => `${h.layer}:${h.head}`).sort());
    });
});
