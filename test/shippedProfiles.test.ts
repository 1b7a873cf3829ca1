// A shipped head profile on a real load: a random-weight GGUF written with Llama-3.1-8B-Instruct's
// attention shape (32 layers × 8 KV heads) and its name metadata starts compressed with
// DuoAttention's pattern for that model, its best-gated heads full, and says where the profile
// came from; a model of another shape or name is never matched and runs the full cache.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NO_PROFILE_YET, rankHeads } from '../common/kv/policy.ts';
import { PlanRequest } from '../common/plan.ts';
import { spawnNodeHost } from '../backend/host/nodeHost.ts';
import { EngineSupervisor } from '../backend/host/supervisor.ts';
import { readAssetText } from '../engine/assetText.ts';
import { parseDuoTsv } from '../engine/profiler/duoAttention.ts';
import { patternUrl, shippedManifest } from '../engine/kv/shippedProfiles.ts';
import { requiresNative } from './support/native.ts';
import { cachedRandomGguf } from './support/randomGguf.ts';

process.env.HEADROOM_PROFILE_DIR = await mkdtemp(path.join(os.tmpdir(), 'headroom-profiles-'));

/** A small random-weight llama with a given layer count and general.name (cached between runs). */
function modelNamed(name: string, layers: number): Promise<string> {
    return cachedRandomGguf(`random-${layers}-layers-${name.replace(/\W+/g, '-').toLowerCase()}-v1.gguf`, {
        architecture: 'llama', vocab: 'llama-spm', nLayer: layers, nEmbd: 256, nHead: 16, nHeadKv: 8, nFf: 128,
        contextLength: 8192, tensorType: 'f16', seed: 5, name,
    });
}

const AUTO = { mode: 'auto', sinks: 4, window: 128, offload: 'auto' } as const;
const fullHeads = (policy: string[][]) => policy.flatMap((row, layer) => row.flatMap((p, head) => (p === 'full' ? [`${layer}:${head}`] : [])));

describe('shipped DuoAttention profiles on a load', requiresNative(), () => {
    const supervisor = new EngineSupervisor(() => spawnNodeHost(), () => {});
    const models = { llama31: '', shallower: '', otherName: '' };
    after(() => supervisor.dispose());
    before(async () => {
        models.llama31 = await modelNamed('Meta Llama 3.1 8B Instruct', 32);
        models.shallower = await modelNamed('Meta Llama 3.1 8B Instruct', 16);
        models.otherName = await modelNamed('Random 32-layer llama', 32);
    });

    test('Llama-3.1-8B-Instruct\'s shape and name: compressed at once with the pattern\'s best-gated heads full, and the card says whose profile', async () => {
        const info = await supervisor.load({ path: models.llama31, contextSize: 1024, kv: AUTO });
        assert.deepEqual(info.kv, { available: true, active: true, reason: null });
        assert.equal(info.headProfile?.origin, 'shipped');
        assert.equal(info.headProfile.description, 'DuoAttention\'s pattern for meta-llama/Meta-Llama-3.1-8B-Instruct, shipped with Headroom');
        const stats = await supervisor.kvStats();
        // DuoAttention's deployed half: the 128 best-gated of 256 heads stay full at any length, and the
        // bytes follow (at 1,024 tokens a streaming head's sinks, window and batch are a quarter of a full one)
        const pattern = shippedManifest().patterns.find((p) => p.id === 'Meta-Llama-3.1-8B-Instruct');
        assert.ok(pattern != null);
        const gates = parseDuoTsv(readAssetText(patternUrl(pattern)));
        assert.deepEqual(fullHeads(stats.policy).sort(), rankHeads(gates).slice(0, 128).map((h) => `${h.layer}:${h.head}`).sort());
        assert.ok(new Set(fullHeads(stats.policy).map((h) => h.split(':')[0])).size > 16, 'full heads across most of the 32 layers');
        const streamingShare = 288 / 1024; // sinks 4 + window 128 + batch 128, padded to 32 cells
        assert.ok(Math.abs((stats.budget ?? 0) - (0.5 + 0.5 * streamingShare)) < 0.01, `the share of the cache kept: ${stats.budget}`);
        const plan = await supervisor.plan(PlanRequest.parse({ path: models.llama31, contextSize: 1024, kv: AUTO }));
        assert.equal(plan.budget, stats.budget, 'the planner finds the same');
    });

    test('the same name on another shape, or the right shape under another name, is never matched', async () => {
        for (const modelPath of [models.shallower, models.otherName]) {
            const info = await supervisor.load({ path: modelPath, contextSize: 1024, kv: AUTO });
            assert.deepEqual([info.kv.active, info.kv.reason, info.headProfile], [false, NO_PROFILE_YET, null], path.basename(modelPath));
        }
    });
});
