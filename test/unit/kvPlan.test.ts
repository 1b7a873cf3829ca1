// The KV policy's arithmetic and the plan a load runs: from a budget and a head profile (or the
// fallback order) to which heads keep every token, and what that costs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KvShape } from '../../common/modelShape.ts';
import {
    budgetForFullHeads, describeProfile, fallbackScores, fullHeadsForBudget, HeadProfile, kvBytes, KvOptions, planForBudget, planFromProfile,
    planWithFullHeads, profileFits, profileFullHeads, rankHeads, streamingCells, streamingCellPaddingFor, type FoundProfile, type HeadPlan, type ResolvedKv,
} from '../../common/kv/policy.ts';

// organism.gguf's cache at 2,048 tokens: 4 layers × 4 KV heads, 64 bytes a head a token.
const SHAPE: KvShape = { layers: 4, kvHeads: 4, bytesPerHeadToken: 64, contextCells: 2048, ubatch: 128 };
const organismProfile = (recommendedBudget = 0.25, extra: Partial<HeadProfile> = {}): FoundProfile => ({
    path: '/profiles/organism.json',
    origin: 'stored',
    profile: HeadProfile.parse({
        modelSha256: 'a'.repeat(64), layers: 4, kvHeads: 4, source: 'profiler', recommendedBudget, createdAt: '2026-11-01T00:00:00Z',
        scores: [[0, 0, 0, 0], [0.06, 0, 0, 0], [0, 0.2, 0, 0], [0.06, 16, 0, 0.06]],
        ...extra,
    }),
});
const fullHeads = (plan: HeadPlan) => plan.policy.flatMap((row, layer) => row.flatMap((p, head) => (p === 'full' ? [`${layer}:${head}`] : [])));

describe('the KV formula', () => {
    test('a streaming head holds sinks, window and one ubatch, padded to 32 cells, never more than the context', () => {
        assert.equal(streamingCells(SHAPE, 4, 128), 288);
        assert.equal(streamingCells(SHAPE, 0, 1), 160);
        assert.equal(streamingCells({ ...SHAPE, contextCells: 256 }, 4, 128), 256);
    });

    test('on CUDA the streaming cells are padded to 256, so its vector and grouped-query flash-attention kernels run on them', () => {
        assert.equal(streamingCellPaddingFor('cuda'), 256);
        assert.equal(streamingCellPaddingFor('cuda', 0), 32, 'no layer on the GPU: the cache is the CPU\'s');
        assert.deepEqual(['vulkan', 'metal', 'cpu'].map((b) => streamingCellPaddingFor(b as 'cpu')), [32, 32, 32]);
        assert.equal(streamingCells({ ...SHAPE, streamingCellPadding: 256 }, 4, 128), 512, '261 cells padded to 256');
    });

    test('the stock cache is every head full, with the compute', () => {
        const bytes = kvBytes(SHAPE, null, 'cpu');
        assert.equal(bytes.cpu, 4 * 4 * 2048 * 64);
        assert.deepEqual([bytes.gpu, bytes.streaming], [0, 0]);
        assert.equal(bytes.full, bytes.cpu);
        assert.equal(bytes.perHead.flat().length, 16);
    });

    test('full heads go where the plan puts them; streaming heads stay with the compute', () => {
        const plan = planForBudget(SHAPE, fallbackScores(SHAPE), 0.25, { sinks: 4, window: 128, fullPlacement: 'cpu' });
        const bytes = kvBytes(SHAPE, plan, 'gpu');
        assert.equal(bytes.cpu, 2 * 2048 * 64, 'two full heads in CPU RAM');
        assert.equal(bytes.gpu, 14 * 288 * 64, 'fourteen streaming heads on the GPU');
        assert.deepEqual([bytes.full, bytes.streaming], [bytes.cpu, bytes.gpu]);
    });
});

describe('plans from a budget', () => {
    test('as many of the best heads stay full as the budget pays for beyond the streaming cells', () => {
        // 25% of 16 × 2,048 cells, less 16 × 288 streaming cells, over (2,048 − 288) a full head: 2.
        const plan = planForBudget(SHAPE, organismProfile().profile.scores, 0.25, { sinks: 4, window: 128, fullPlacement: 'cpu' });
        assert.deepEqual(fullHeads(plan), ['2:1', '3:1']);
        assert.ok(kvBytes(SHAPE, plan, 'cpu').cpu <= 0.25 * kvBytes(SHAPE, null, 'cpu').cpu);
        assert.deepEqual(fullHeads(planForBudget(SHAPE, fallbackScores(SHAPE), 1, { sinks: 4, window: 128, fullPlacement: 'cpu' })).length, 16);
        assert.deepEqual(fullHeads(planForBudget(SHAPE, fallbackScores(SHAPE), 0.1, { sinks: 4, window: 128, fullPlacement: 'cpu' })), [], 'too small a budget keeps no head full');
    });

    test('without a profile, later layers first, then lower heads', () => {
        assert.deepEqual(rankHeads(fallbackScores(SHAPE)).slice(0, 3).map((h) => `${h.layer}:${h.head}`), ['3:0', '3:1', '3:2']);
    });
});

describe('plan from profile', () => {
    const kv = (input: object) => KvOptions.parse(input);

    /** planFromProfile where it must plan. */
    const planned = (resolved: ResolvedKv | null): ResolvedKv => {
        assert.ok(resolved != null, 'a plan');
        return resolved;
    };

    test('budget: the given fraction on the profile\'s best heads; the plan says where its scores came from', () => {
        const resolved = planned(planFromProfile(kv({ mode: 'budget', budget: 0.25 }), SHAPE, 'cpu', organismProfile()));
        assert.deepEqual(fullHeads(resolved.plan), ['2:1', '3:1']);
        // what the plan really spends: 2 full heads and 14 of 288 cells, of 16 × 2,048
        assert.equal(resolved.budget, (2 * 2048 + 14 * 288) / (16 * 2048));
        assert.equal(resolved.mode, 'budget');
        assert.deepEqual(resolved.profile, { source: 'profiler', path: '/profiles/organism.json', origin: 'stored', description: 'Measured on this machine (attention scores)' });
        assert.equal(resolved.scores?.[3]?.[1], 16);
    });

    test('auto keeps the profile\'s full heads at every context length, and the bytes follow; without a profile the full cache', () => {
        // profiled at 4,096 tokens: "budget 0.129, the 1 best of 16 heads full"
        const profiled = organismProfile(0.129, { fullHeads: 1 });
        for (const contextCells of [512, 1024, 2048, 4096, 32768]) {
            const resolved = planned(planFromProfile(kv({ mode: 'auto' }), { ...SHAPE, contextCells }, 'cpu', profiled));
            assert.deepEqual(fullHeads(resolved.plan), ['3:1'], `${contextCells} tokens`);
        }
        const short = planned(planFromProfile(kv({ mode: 'auto' }), { ...SHAPE, contextCells: 1024 }, 'cpu', profiled));
        assert.equal(short.budget, (1024 + 15 * 288) / (16 * 1024), 'the bytes of one full head and 15 streaming ones at 1,024 tokens');
        assert.equal(planFromProfile(kv({ mode: 'auto' }), SHAPE, 'cpu', null), null);
    });

    test('profiles stored before the count: the smallest validated plan, DuoAttention\'s share of the heads, else the budget', () => {
        const checks = [{ fullHeads: 4, budget: 0.3, accuracy: 1, passed: true }, { fullHeads: 1, budget: 0.13, accuracy: 0.9, passed: true }, { fullHeads: 0, budget: 0.1, accuracy: 0, passed: false }];
        const validation = { verdict: 'validated' as const, contextTokens: 4096, prompts: 8, filler: 'f', fullAccuracy: 1, checks, note: null };
        assert.equal(profileFullHeads(organismProfile(0.129, { validation }).profile), 1);
        assert.equal(profileFullHeads(organismProfile(0.5, { source: 'duo-attention' }).profile), 8, 'half of 16 heads');
        assert.equal(profileFullHeads(organismProfile(0.25).profile), null);
        const legacy = planned(planFromProfile(kv({ mode: 'auto' }), SHAPE, 'cpu', organismProfile(0.25)));
        assert.deepEqual(fullHeads(legacy.plan), ['2:1', '3:1'], 'an unvalidated old profile keeps its budget\'s heads');
    });

    test('a budget that keeps no head full at this context is refused with the smallest that keeps one', () => {
        // at 1,024 tokens a streaming head is 288 of 1,024 cells: 28 % before any head is full
        const short = { ...SHAPE, contextCells: 1024 };
        assert.throws(() => planFromProfile(kv({ mode: 'budget', budget: 0.25 }), short, 'cpu', organismProfile()),
            (error: Error & { field?: string }) => /A budget of 0\.25 keeps no head full at 1,024 tokens/.test(error.message)
                && /smallest budget that keeps one head full is 0\.327/.test(error.message) && error.field === 'kv');
        assert.deepEqual(fullHeads(planned(planFromProfile(kv({ mode: 'budget', budget: 0.327 }), short, 'cpu', organismProfile())).plan), ['3:1']);
    });

    test('a budget without a profile keeps the later layers full (the fallback order)', () => {
        const guessed = planned(planFromProfile(kv({ mode: 'budget', budget: 0.5 }), SHAPE, 'cpu', null));
        assert.deepEqual([guessed.profile, guessed.scores], [null, null]);
        assert.ok(fullHeads(guessed.plan).every((head) => head.startsWith('3:') || head.startsWith('2:')), fullHeads(guessed.plan).join(' '));
    });

    test('offload: auto keeps full heads with the compute; gpu and cpu put them there', () => {
        const placement = (offload: string, compute: 'gpu' | 'cpu') => planned(planFromProfile(kv({ mode: 'auto', offload }), SHAPE, compute, organismProfile())).plan.fullPlacement;
        assert.equal(placement('auto', 'gpu'), 'gpu');
        assert.equal(placement('auto', 'cpu'), 'cpu');
        assert.equal(placement('cpu', 'gpu'), 'cpu');
    });

    test('sinks and window reach the plan', () => {
        const { plan } = planned(planFromProfile(kv({ mode: 'budget', budget: 0.5, sinks: 8, window: 256 }), SHAPE, 'cpu', null));
        assert.deepEqual([plan.sinks, plan.window], [8, 256]);
    });

    test('a budget and the number of heads it keeps full are each other\'s inverse', () => {
        const streaming = { sinks: 4, window: 128, fullPlacement: 'cpu' as const };
        for (let count = 0; count <= 16; count++) {
            const budget = budgetForFullHeads(SHAPE, count, streaming);
            assert.equal(fullHeadsForBudget(SHAPE, budget, streaming), count, `${count} heads: budget ${budget}`);
            if (count > 0) assert.equal(fullHeadsForBudget(SHAPE, budget - 0.001, streaming), count - 1, `${count} heads: just under ${budget}`);
        }
        assert.equal(budgetForFullHeads(SHAPE, 16, streaming), 1);
        assert.deepEqual(fullHeads(planWithFullHeads(SHAPE, [{ layer: 3, head: 1 }, { layer: 0, head: 2 }], streaming)), ['0:2', '3:1']);
    });

    test('the UI names where a profile came from', () => {
        const measured = organismProfile();
        const validated: FoundProfile = {
            ...measured,
            profile: { ...measured.profile, method: 'attention', validation: { verdict: 'validated', contextTokens: 4096, prompts: 4, filler: 'f', fullAccuracy: 1, checks: [], note: null } },
        };
        assert.equal(describeProfile(validated), 'Measured on this machine (attention scores, validated at 4,096 tokens)');
        assert.equal(describeProfile({ ...measured, profile: { ...measured.profile, method: 'ablation' }, origin: 'file' }), 'Measured (leave-one-out ablation)');
        const duo = { ...measured.profile, source: 'duo-attention' as const, pattern: 'meta-llama/Meta-Llama-3.1-8B-Instruct' };
        assert.equal(describeProfile({ profile: duo, path: 'x', origin: 'shipped' }), 'DuoAttention\'s pattern for meta-llama/Meta-Llama-3.1-8B-Instruct, shipped with Headroom');
    });

    test('off plans nothing; a budget needs its fraction', () => {
        assert.equal(planFromProfile(kv({ mode: 'off' }), SHAPE, 'cpu', organismProfile()), null);
        assert.deepEqual(KvOptions.safeParse({ mode: 'budget' }).error?.issues.map((i) => [i.path.join('.'), i.message]), [['budget', 'KV mode "budget" needs a budget between 0 and 1.']]);
    });

    test('a profile fits a model of its own shape only', () => {
        const { profile } = organismProfile();
        assert.equal(profileFits(profile, SHAPE), true);
        assert.equal(profileFits(profile, { layers: 4, kvHeads: 8 }), false);
        assert.equal(profileFits({ ...profile, scores: profile.scores.slice(1) }, SHAPE), false, 'rows must match the layers it claims');
    });
});

describe('a model\'s own window layers (Gemma)', () => {
    // 6 layers, 2 KV heads: layers 0, 1, 3, 4 attend through a 32-token window of their own
    const GEMMA: KvShape = { layers: 6, kvHeads: 2, bytesPerHeadToken: 128, contextCells: 1024, ubatch: 129, windowLayers: [true, true, false, true, true, false], windowCells: 256 };

    test('they keep their window cache with or without a plan; only the global layers are planned', () => {
        const stock = kvBytes(GEMMA, null, 'gpu');
        assert.equal(stock.window, 8 * 256 * 128);
        assert.equal(stock.full, 4 * 1024 * 128);
        const plan = planForBudget(GEMMA, fallbackScores(GEMMA), 0.75, { sinks: 4, window: 64, fullPlacement: 'cpu' });
        assert.deepEqual(plan.policy.map((row) => row.join(',')), [
            'window,window', 'window,window', 'streaming,streaming', 'window,window', 'window,window', 'full,full',
        ]);
        const planned = kvBytes(GEMMA, plan, 'gpu');
        assert.equal(planned.window, stock.window, 'the window layers cost what they cost in the stock cache');
        assert.equal(planned.full, 2 * 1024 * 128);
        assert.equal(planned.cpu, planned.full, 'full heads in CPU RAM');
        assert.ok(planned.gpu + planned.cpu <= 0.75 * (stock.gpu + stock.cpu), 'within the budget of the whole stock cache');
    });

    test('the budget pays for full heads beyond the window layers and the streaming cells', () => {
        // stock: 4 × 1,024 + 8 × 256 = 6,144 cells; at 0.75: 4,608, less 8 × 256 window and 4 × 224 streaming cells,
        // over (1,024 − 224) a full head: 2; at 0.5 none
        const full = (budget: number) => planForBudget(GEMMA, fallbackScores(GEMMA), budget, { sinks: 4, window: 64, fullPlacement: 'gpu' })
            .policy.flat().filter((p) => p === 'full').length;
        assert.deepEqual([full(0.75), full(0.5)], [2, 0]);
        assert.equal(streamingCells(GEMMA, 4, 64), 224, 'PAD(4 + max(64 + 129, 2 x 64 + 1), 32)');
    });
});
