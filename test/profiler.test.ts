// The head profiler on real llama.cpp: organism.gguf (one retrieval head, layer 3 KV head 1) and
// a variant whose retrieval head is duplicated into a second KV head of the same layer. Scores
// from attention (one pass a prompt) and from leave-one-out ablation; whole plans validated on
// held-out prompts; one model load, one context per trial.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { budgetForFullHeads, KvOptions, rankHeads } from '../common/kv/policy.ts';
import { runNiah } from '../engine/niah.ts';
import { contextCellsFor, kvShapeFromMetadata, type KvShape } from '../common/modelShape.ts';
import { openModel, type OpenedModel } from '../engine/load.ts';
import { scoreByAblation } from '../engine/profiler/ablation.ts';
import { scoreByAttention } from '../engine/profiler/attentionScores.ts';
import { profileHeads } from '../engine/profiler/headProfiler.ts';
import { heldOutPrompts, scoringPrompts, type PromptSet } from '../engine/profiler/promptSets.ts';
import { measureQuality, type Quality } from '../engine/profiler/quality.ts';
import { checkPlan, KEEP_SHARE, smallestPassingPlan, topHeadsPlan, type PlanSettings } from '../engine/profiler/validation.ts';
import { computeDevice, runtime } from '../engine/runtime.ts';
import { ORGANISM } from './support/models.ts';
import { requiresNative } from './support/native.ts';
import { DUPLICATE, redundantOrganism, RETRIEVAL } from './support/redundantOrganism.ts';

const SCORING_TOKENS = 512;
const VALIDATION_TOKENS = 1024;
const key = (h: { layer: number; head: number }) => `${h.layer}:${h.head}`;

function shapeAt(opened: OpenedModel, tokens: number): KvShape {
    const shape = kvShapeFromMetadata(opened.metadata, contextCellsFor(tokens), 128);
    assert.ok(shape != null);
    return shape;
}

/** The profiler's pieces on one opened model. */
function onModel(modelPath: () => Promise<string>) {
    const state: { opened?: OpenedModel; scoring?: PromptSet; heldOut?: PromptSet; full?: Quality; settings?: PlanSettings } = {};
    before(async () => {
        state.opened = await openModel({ path: await modelPath() });
        state.scoring = await scoringPrompts(state.opened.model, 4, SCORING_TOKENS, 1);
        state.heldOut = await heldOutPrompts(state.opened.model, 3, VALIDATION_TOKENS, 1);
        state.settings = { sinks: 4, window: 128, fullPlacement: computeDevice((await runtime.get()).llama) };
    });
    after(async () => {
        await state.opened?.dispose();
    });
    const get = () => {
        const { opened, scoring, heldOut, settings } = state;
        assert.ok(opened != null && scoring != null && heldOut != null && settings != null);
        return { opened, scoring, heldOut, settings, scoringShape: shapeAt(opened, SCORING_TOKENS), validationShape: shapeAt(opened, VALIDATION_TOKENS) };
    };
    const fullQuality = async () => {
        const { opened, heldOut } = get();
        state.full ??= await measureQuality(opened, heldOut, null);
        return state.full;
    };
    return { get, fullQuality };
}

describe('the head profiler on organism.gguf', requiresNative(), () => {
    const model = onModel(async () => ORGANISM);
    let attention: number[][] = [];

    test('the prompts know where their needle is, and held-out prompts share nothing with the scoring ones', () => {
        const { opened, scoring, heldOut } = model.get();
        for (const prompt of [...scoring.prompts, ...heldOut.prompts]) {
            const needle = opened.model.detokenize([...prompt.documentTokens, ...prompt.tailTokens].slice(prompt.needle.start, prompt.needle.end));
            assert.match(needle, /The passcode for the \w+ \w+ is \d{5}\./, needle);
        }
        assert.deepEqual([scoring.filler, heldOut.filler], ['filler-apache-2.0.txt', 'filler-gpl-3.0.txt']);
        assert.notEqual(scoring.seed, heldOut.seed);
        const digits = (set: PromptSet) => set.prompts.map((p) => p.tailTokens.slice(-p.answerCount).join(','));
        assert.equal(digits(heldOut).filter((d) => digits(scoring).includes(d)).length, 0, 'other needles');
    });

    test('attention scoring: one pass a prompt finds layer 3 KV head 1, its query group on the needle for most of each answer token', async () => {
        const { opened, scoring, scoringShape } = model.get();
        const started = performance.now();
        attention = await scoreByAttention(opened, scoringShape, scoring);
        const seconds = (performance.now() - started) / 1000;
        const [top, second] = rankHeads(attention);
        assert.ok(top != null && second != null);
        assert.equal(key(top), key(RETRIEVAL), JSON.stringify(attention));
        assert.ok(top.score > 0.6 && top.score <= 1, `layer 3 KV head 1: ${top.score}`);
        assert.ok(second.score < 0.2, `every other head far below: ${second.score}`);
        assert.ok(attention.flat().every((score) => score >= 0 && score <= 1), 'shares of attention');
        process.stdout.write(`# attention scores in ${seconds.toFixed(1)} s: ${JSON.stringify(attention.map((row) => row.map((s) => +s.toFixed(3))))}\n`);
    });

    test('leave-one-out ablation (--method ablation), one context per head on the same model, finds the same head', async () => {
        const { opened, scoring, scoringShape } = model.get();
        const { scores } = await scoreByAblation(opened, scoringShape, scoring, { sinks: 4, window: 64 });
        const [top, second] = rankHeads(scores);
        assert.equal(top != null ? key(top) : null, key(RETRIEVAL), JSON.stringify(scores));
        assert.ok((top?.score ?? 0) > 5 && (second?.score ?? 0) < 1, JSON.stringify(scores));
    });

    test('whole-plan validation: the chosen plan keeps >= 95% of the full cache on held-out prompts; the same budget on the lowest-scoring heads is refused', async () => {
        const { opened, heldOut, validationShape, settings } = model.get();
        const full = await model.fullQuality();
        assert.ok(full.accuracy >= 0.6, `the full cache finds the needles (${full.accuracy})`);
        const search = await smallestPassingPlan(opened, heldOut, validationShape, attention, full, settings);
        // Which heads besides the retrieval head a whole plan needs depends on the prompts (a needle near
        // the start leans on more of them): checked as a set, not assumed from the scores alone.
        assert.ok(search.fullHeads >= 1 && search.fullHeads <= 8, JSON.stringify(search.checks));
        const chosen = search.checks.find((c) => c.fullHeads === search.fullHeads);
        assert.ok(chosen != null && chosen.passed && chosen.accuracy >= KEEP_SHARE * full.accuracy, JSON.stringify(search.checks));
        assert.equal(chosen.budget, budgetForFullHeads(validationShape, search.fullHeads, settings));
        assert.ok(search.checks.filter((c) => c.fullHeads < search.fullHeads).every((c) => !c.passed), 'every smaller plan checked lost quality');
        const none = await checkPlan(opened, heldOut, validationShape, topHeadsPlan(validationShape, attention, 0, settings), full);
        assert.ok(!none.passed && none.accuracy <= full.accuracy - 0.5, `every head streaming loses the needles: ${JSON.stringify(none)}`);

        const lowest = attention.map((row) => row.map((score) => -score));
        const control = await checkPlan(opened, heldOut, validationShape, topHeadsPlan(validationShape, lowest, search.fullHeads, settings), full);
        assert.equal(control.passed, false, `the lowest-scoring heads at the same budget: ${JSON.stringify(control)}`);
        assert.ok(control.accuracy < full.accuracy - 0.5, JSON.stringify(control));
    });

    test('a whole profile: scores, a validated budget at the asked context, the seconds each part took', async () => {
        const run = await profileHeads({
            modelPath: ORGANISM, sha256: 'f'.repeat(64), method: 'attention', prompts: 3, promptTokens: SCORING_TOKENS, seed: 2,
            sinks: 4, window: 64, contextTokens: VALIDATION_TOKENS, validationPrompts: 2,
        });
        const { profile } = run;
        assert.equal(key(rankHeads(profile.scores)[0] ?? { layer: -1, head: -1 }), key(RETRIEVAL));
        assert.equal(profile.validation?.verdict, 'validated');
        assert.equal(profile.validation.contextTokens, VALIDATION_TOKENS);
        assert.equal(profile.validation.note, null, 'nothing shortened');
        const chosen = profile.validation.checks.filter((c) => c.passed).sort((a, b) => a.fullHeads - b.fullHeads)[0];
        assert.ok(chosen != null && chosen.accuracy >= KEEP_SHARE * profile.validation.fullAccuracy);
        assert.equal(profile.recommendedBudget, chosen.budget, 'validated at the context asked for: the budget is the checked plan\'s');
        assert.ok(run.seconds.scoring > 0 && run.seconds.validation > 0);
    });
});

describe('auto at a shorter context than the profile\'s (organism.gguf profiled at 4,096 tokens)', requiresNative(), () => {
    test('keeps the profile\'s full heads at 1,024 and 2,048 tokens, and finds >= 95% of the needles the full cache finds', async (t) => {
        const { profile } = await profileHeads({
            modelPath: ORGANISM, sha256: 'e'.repeat(64), method: 'attention', prompts: 3, promptTokens: SCORING_TOKENS, seed: 2,
            sinks: 4, window: 128, contextTokens: 4096, validationPrompts: 2,
        });
        assert.ok(profile.fullHeads != null && profile.fullHeads >= 1, `the profile keeps ${profile.fullHeads} heads`);
        const found = { profile, path: 'organism-4096.json', origin: 'file' as const };
        const lines: string[] = [];
        for (const length of [1024, 2048]) {
            // held-out: other seeds than the profiler's, the Apache-2.0 filler it never saw
            const grid = { lengths: [length], depths: [0.1, 0.3, 0.5, 0.7, 0.9], trials: 8, seed: 9100 + length };
            const full = await runNiah({ ...grid, modelPath: ORGANISM, kv: KvOptions.parse({ mode: 'off' }) });
            const auto = await runNiah({ ...grid, modelPath: ORGANISM, kv: KvOptions.parse({ mode: 'auto' }), profile: found });
            lines.push(`${length} tokens: full ${full.accuracy}, auto ${auto.accuracy} with ${auto.fullHeads}/${auto.totalHeads} heads full`);
            assert.equal(auto.fullHeads, profile.fullHeads, `${length} tokens: the profile's heads, not a share of the bytes`);
            assert.ok(full.accuracy > 0.5, `${length} tokens: the full cache finds the needles (${full.accuracy})`);
            assert.ok(auto.accuracy >= KEEP_SHARE * full.accuracy, `${length} tokens: auto ${auto.accuracy} vs full ${full.accuracy}`);
        }
        t.diagnostic(lines.join('; '));
    });
});

describe('a retrieval head duplicated into a second KV head (organism variant)', requiresNative(), () => {
    const model = onModel(redundantOrganism);

    test('attention scoring ranks both copies first; whole-plan validation keeps at least one full; leave-one-out is reported', async (t) => {
        const { opened, scoring, heldOut, scoringShape, validationShape, settings } = model.get();
        const attention = await scoreByAttention(opened, scoringShape, scoring);
        const ranked = rankHeads(attention);
        assert.deepEqual(ranked.slice(0, 2).map(key).sort(), [key(RETRIEVAL), key(DUPLICATE)].sort(), JSON.stringify(attention));
        assert.ok((ranked[1]?.score ?? 0) > 5 * (ranked[2]?.score ?? 1), `both copies stand out: ${JSON.stringify(ranked.slice(0, 3))}`);

        const full = await model.fullQuality();
        assert.ok(full.accuracy >= 0.6, `the variant still retrieves with the full cache (${full.accuracy})`);
        const search = await smallestPassingPlan(opened, heldOut, validationShape, attention, full, settings);
        assert.ok(search.fullHeads >= 1, JSON.stringify(search.checks));
        const kept = rankHeads(attention).slice(0, search.fullHeads).map(key);
        assert.ok(kept.includes(key(RETRIEVAL)) || kept.includes(key(DUPLICATE)), `the chosen plan keeps a copy full: ${kept.join(' ')}`);
        const neither = await checkPlan(opened, heldOut, validationShape, topHeadsPlan(validationShape, attention.map((row, layer) =>
            row.map((score, head) => (key({ layer, head }) === key(RETRIEVAL) || key({ layer, head }) === key(DUPLICATE) ? -1 : score))), 2, settings), full);
        assert.equal(neither.passed, false, `a plan without either copy is refused: ${JSON.stringify(neither)}`);

        // What leave-one-out makes of it: each copy alone streaming leaves the other to retrieve.
        const lines: string[] = [];
        const { scores: ablation } = await scoreByAblation(opened, scoringShape, scoring, { sinks: 4, window: 64, log: (line) => lines.push(line) });
        const drop = (h: { layer: number; head: number }) => ablation[h.layer]?.[h.head] ?? 0;
        t.diagnostic(lines.filter((line) => /full cache|layer 3 KV head [13]:/.test(line)).join('; '));
        t.diagnostic(`leave-one-out log-prob drops: layer 3 KV head 1 ${drop(RETRIEVAL).toFixed(3)}, KV head 3 ${drop(DUPLICATE).toFixed(3)}; ranking ${rankHeads(ablation).slice(0, 4).map((h) => `${key(h)} ${h.score.toFixed(3)}`).join(', ')}`);
        t.diagnostic(`attention scores: ${JSON.stringify(attention.map((row) => row.map((s) => +s.toFixed(3))))}; validation: ${JSON.stringify(search.checks)}`);
    });
});
