// The measurement CLIs run for real: organism.gguf through llama.cpp on the CPU, each CLI
// as its own process, as a user runs it; what they write is checked against the schemas.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { fallbackScores, HeadProfile, KV_OFF, KvOptions, planForBudget, rankHeads, type HeadPlan } from '../common/kv/policy.ts';
import { contextCellsFor } from '../common/modelShape.ts';
import { formatDuoTsv, parseDuoTsv, profileFromDuo } from '../engine/profiler/duoAttention.ts';
import { buildHaystack, loadFiller, makeNeedle, seededRandom } from '../engine/profiler/haystack.ts';
import { runtime } from '../engine/runtime.ts';
import { NiahResult } from '../common/niah.ts';
import { KvBenchResult } from '../bench/results.ts';
import { benchSides } from '../bench/kvBench.ts';
import { layoutLabel, mixedLayers, parseLayouts, profileForLayout, sliceRows } from '../bench/layouts.ts';
import { roundOrder, schedule, spread, timeDecode } from '../bench/method.ts';
import { crossingPerToken, decodeRatesFor, decodeSeconds, isCpuBackedGpu, offloadDecodeCost, type DecodeRates } from '../engine/planner.ts';
import { sha256OfFile } from '../engine/kv/profiles.ts';
import { ORGANISM } from './support/models.ts';
import { requiresNative } from './support/native.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

/** Runs a CLI like `npm run <name> -- args`; resolves with its output, or with the failure. */
async function cli(script: string, args: string[], env: Record<string, string> = {}) {
    try {
        const { stdout, stderr } = await run(process.execPath, [path.join(root, 'bench', script), ...args], { cwd: root, env: { ...process.env, ...env } });
        return { code: 0, stdout, stderr };
    } catch (error) {
        const failed = error as { code: number; stdout: string; stderr: string };
        return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
}

/** Width and height of a PNG, after checking its signature. */
async function pngSize(file: string): Promise<{ width: number; height: number; bytes: number }> {
    const png = await readFile(file);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${file} is a PNG`);
    return { width: png.readUInt32BE(16), height: png.readUInt32BE(20), bytes: png.length };
}

describe('needle-in-a-haystack material', () => {
    test('haystacks are seeded, sized in tokens, and hold the fact at the asked depth', async () => {
        const { llama } = await runtime.get();
        const model = await llama.loadModel({ modelPath: ORGANISM, vocabOnly: true });
        const filler = loadFiller();
        assert.doesNotMatch(filler, /passcode/i);
        for (const depth of [0, 0.5, 1]) {
            const make = () => {
                const random = seededRandom(42);
                const needle = makeNeedle(random);
                return { needle, haystack: buildHaystack(model, filler, needle, 600, depth, random) };
            };
            const { needle, haystack } = make();
            assert.deepEqual(make(), { needle, haystack }, 'the same seed gives the same haystack');
            assert.match(needle.digits, /^\d{5}$/);
            const tokens = model.tokenize(haystack.document).length;
            assert.ok(tokens >= 590 && tokens <= 610, `about 600 tokens, got ${tokens}`);
            const at = haystack.document.indexOf(needle.fact) / haystack.document.length;
            assert.ok(Math.abs(at - depth) < 0.06, `fact at ${at.toFixed(3)} for depth ${depth}`);
        }
        await model.dispose();
    });
});

describe('the benchmarks\' method', () => {
    test('every side runs once per round, the order alternating, and each rate is reported as min / median / max', () => {
        assert.deepEqual(roundOrder(['stock', 'duo', 'fallback'], 0), ['stock', 'duo', 'fallback']);
        assert.deepEqual(schedule(['stock', 'duo', 'fallback'], 3), [['stock', 'duo', 'fallback'], ['fallback', 'duo', 'stock'], ['stock', 'duo', 'fallback']]);
        // each side's position averages out: over 2 rounds every side runs once early and once late
        for (const side of ['stock', 'duo', 'fallback']) {
            const [first = -1, second = -1] = schedule(['stock', 'duo', 'fallback'], 2).map((round) => round.indexOf(side));
            assert.equal(first + second, 2, `${side}: ${first}, ${second}`);
        }
        assert.deepEqual(spread([3, 1, 2]), { min: 1, median: 2, max: 3, samples: [3, 1, 2] });
        assert.deepEqual(spread([4, 1, 2, 3]), { min: 1, median: 2.5, max: 4, samples: [4, 1, 2, 3] });
        assert.throws(() => spread([]));
    });

    test('decode divides by the tokens it generated: a model that stops early counts fewer, and end-of-generation tokens are asked for', async () => {
        const asked: { yieldEogToken: boolean }[] = [];
        // a sequence whose model ends its answer after 3 tokens (as organism does, with an EOS right after the answer)
        const stopsEarly = {
            async *evaluate(_tokens: number[], options: { temperature: number; yieldEogToken: boolean }) {
                asked.push(options);
                for (const token of [11, 12, 13]) {
                    await new Promise((resolve) => setTimeout(resolve, 20));
                    yield token;
                }
            },
        };
        const early = await timeDecode(stopsEarly, 1, 16);
        assert.equal(early.tokens, 3, 'three tokens came, not the sixteen asked for');
        assert.ok(Math.abs(early.tokPerSec - 3 / early.seconds) < 1e-9);
        assert.ok(early.tokPerSec < 16 / early.seconds / 4, 'a rate of the count asked for would be 16/3 times too high');
        assert.deepEqual(asked, [{ temperature: 0, yieldEogToken: true }], 'decoding goes on past an end-of-generation token');
        // and a sequence that goes on is stopped at the count
        let made = 0;
        const goesOn = { async *evaluate() { for (;;) yield made++; } };
        assert.equal((await timeDecode(goesOn, 1, 5)).tokens, 5);
        await assert.rejects(timeDecode({ async *evaluate() {} }, 1, 5), /no token/);
    });

    test('the sides: the stock cache once, then each layout\'s compressed modes and placements, in the order given', () => {
        const modes = [KV_OFF, KvOptions.parse({ mode: 'budget', budget: 0.5 }), KvOptions.parse({ mode: 'budget', budget: 0.25 })];
        const layouts = parseLayouts('duo:Meta-Llama-3.1-8B-Instruct,fallback');
        assert.deepEqual(benchSides(modes, layouts).map((s) => s.label), [
            'off', 'budget 0.5 duo:Meta-Llama-3.1-8B-Instruct', 'budget 0.25 duo:Meta-Llama-3.1-8B-Instruct', 'budget 0.5 fallback', 'budget 0.25 fallback',
        ]);
        assert.deepEqual(benchSides([KV_OFF, KvOptions.parse({ mode: 'budget', budget: 0.25 })], parseLayouts('fallback'), ['cpu', 'gpu']).map((s) => [s.label, s.kv.offload]), [
            ['off', 'auto'], ['budget 0.25 fallback [cpu]', 'cpu'], ['budget 0.25 fallback [gpu]', 'gpu'],
        ]);
        assert.throws(() => parseLayouts('duo'), /--layout takes found, fallback, duo:<id or \.tsv> or profile:<\.json>.*Meta-Llama-3\.1-8B-Instruct/);
        assert.throws(() => parseLayouts('lowest'), /not "lowest"/);
        assert.deepEqual(parseLayouts('found, profile:/x/organism.profile.json').map(layoutLabel), ['found', 'profile:organism.profile.json']);
    });
});

describe('head layouts for the benchmarks', () => {
    const llama31 = (tokens: number) => ({ layers: 32, kvHeads: 8, bytesPerHeadToken: 512, contextCells: contextCellsFor(tokens), ubatch: 128 });
    const settings = { sinks: 4, window: 128, fullPlacement: 'cpu' as const };
    const sha256 = async () => '0'.repeat(64);

    test('DuoAttention\'s Llama-3.1-8B pattern, imported onto its shape, mixes most layers; the fallback order mixes one', async () => {
        const { profile, note } = await profileForLayout({ kind: 'duo', pattern: 'Meta-Llama-3.1-8B-Instruct' }, { sha256, layers: 32, kvHeads: 8 });
        assert.ok(profile != null);
        assert.equal(note, null, 'taken whole');
        assert.equal(profile.profile.source, 'duo-attention');
        const plan = (budget: number, scores: number[][]): HeadPlan => planForBudget(llama31(8192), scores, budget, settings);
        const duo = { 0.25: plan(0.25, profile.profile.scores), 0.5: plan(0.5, profile.profile.scores) };
        const full = (p: HeadPlan) => p.policy.flat().filter((h) => h === 'full').length;
        // at 8,192 tokens a quarter of the bytes keeps 57 of 256 heads full, half keeps 123
        assert.deepEqual([full(duo[0.25]), full(duo[0.5])], [57, 123]);
        assert.equal(mixedLayers(duo[0.25]), 25, 'DuoAttention at 0.25 mixes 25 of 32 layers');
        assert.equal(mixedLayers(duo[0.5]), 30, 'and 30 at 0.5');
        const fallback = plan(0.25, fallbackScores(llama31(8192)));
        assert.equal(full(fallback), 57, 'the same bytes buy the same number of heads');
        assert.equal(mixedLayers(fallback), 1, 'later layers first: whole layers full, one mixed');
        assert.deepEqual(fallback.policy.slice(24).map((row) => row.every((h) => h === 'full')), [false, true, true, true, true, true, true, true], 'layers 25-31 full, 24 mixed');
        assert.equal(mixedLayers(null), 0);
        // Mistral-7B v0.2's pattern on its shape (the same 32 × 8)
        const mistral = await profileForLayout({ kind: 'duo', pattern: 'Mistral-7B-Instruct-v0.2' }, { sha256, layers: 32, kvHeads: 8 });
        assert.ok(mistral.profile != null);
        assert.equal(mixedLayers(plan(0.25, mistral.profile.profile.scores)), 19);
    });

    test('an 8-layer slice takes every fourth row of a 32-layer pattern and says so; another shape is refused', async () => {
        const rows = Array.from({ length: 32 }, (_, layer) => [layer, layer]);
        assert.deepEqual(sliceRows(rows, 8).taken, [0, 4, 8, 12, 16, 20, 24, 28]);
        assert.deepEqual(sliceRows(rows, 8).rows.map((row) => row[0]), [0, 4, 8, 12, 16, 20, 24, 28]);
        assert.equal(sliceRows(rows, 32).rows, rows);
        assert.throws(() => sliceRows(rows, 5), /a slice needs the model's layers to divide the pattern's/);
        const sliced = await profileForLayout({ kind: 'duo', pattern: 'Meta-Llama-3.1-8B-Instruct' }, { sha256, layers: 8, kvHeads: 8 });
        assert.match(sliced.note ?? '', /^rows 0, 4, …, 28 of the 32-layer pattern/);
        assert.equal(sliced.profile?.profile.layers, 8);
        await assert.rejects(profileForLayout({ kind: 'duo', pattern: 'Meta-Llama-3.1-8B-Instruct' }, { sha256, layers: 32, kvHeads: 4 }), /8 KV heads per layer, the model 4/);
        await assert.rejects(profileForLayout({ kind: 'duo', pattern: 'no-such-model' }, { sha256, layers: 32, kvHeads: 8 }), { code: 'NOT_FOUND' });
    });
});

describe('the cost of full heads in CPU RAM', () => {
    // Llama-3-8B's attention: 32 query heads over 8 KV heads (groups of 4), head dim 128
    const attention = { queryHeads: 32, kvHeads: 8, keyDim: 128, valueDim: 128 };
    const plan = (rows: ('full' | 'streaming')[][]): HeadPlan => ({ policy: rows, sinks: 4, window: 128, fullPlacement: 'cpu' });
    const streaming = (n: number): 'streaming'[] => Array.from({ length: n }, () => 'streaming' as const);

    test('what crosses per token: each layer with full heads sends their query groups and new K and V rows, and gets their output back, in F32', () => {
        const two = plan([['full', 'full', ...streaming(6)], streaming(8), ['full', ...streaming(7)]]);
        // per full KV head: 4 query heads × 128 + 128 (K) + 128 (V) + 4 × 128 (output) = 1,280 floats = 5,120 bytes
        assert.deepEqual(crossingPerToken(two, attention), { bytes: 3 * 5120, layers: 2 });
        assert.deepEqual(crossingPerToken(plan([streaming(8)]), attention), { bytes: 0, layers: 0 });
    });

    test('decode time is every byte read at its device\'s rate, plus the crossings; the estimate says where its rates come from', () => {
        const rates: DecodeRates = { gpuWeights: 100e9, gpuKv: 50e9, cpuWeights: 10e9, cpuKv: 5e9, link: 10e9, crossingSeconds: 1e-3, source: 'test' };
        // 1 GB of weights on the GPU (10 ms), 0.1 GB KV on the GPU (2 ms), 0.05 GB on the CPU (10 ms)
        assert.ok(Math.abs(decodeSeconds({ gpu: 1e9, cpu: 0 }, { gpu: 0.1e9, cpu: 0.05e9 }, rates, null) - 0.022) < 1e-12);
        // plus 1 MB across (0.1 ms) and 3 crossing layers (3 ms)
        assert.ok(Math.abs(decodeSeconds({ gpu: 1e9, cpu: 0 }, { gpu: 0.1e9, cpu: 0.05e9 }, rates, { bytes: 1e6, layers: 3 }) - 0.0251) < 1e-12);
        const full = plan([['full', 'streaming'], ['streaming', 'streaming']]);
        const cost = offloadDecodeCost({
            plan: full, weights: { gpu: 1e9, cpu: 0 }, onGpu: { gpu: 0.15e9, cpu: 0 }, inRam: { gpu: 0.1e9, cpu: 0.05e9 }, rates,
            attention: { queryHeads: 8, kvHeads: 2, keyDim: 128, valueDim: 128 },
        });
        // on the GPU: 10 + 3 ms; in RAM: 10 + 2 + 10 ms + 5,120 B / 10 GB/s + one crossing layer (1 ms)
        assert.ok(Math.abs(1 / cost.decodeTokPerSec.gpu - 0.013) < 1e-12);
        assert.ok(Math.abs(1 / cost.decodeTokPerSec.cpu - (0.023 + 5120 / 10e9)) < 1e-12);
        assert.equal(cost.fullKvBytes, 0.05e9);
        assert.deepEqual([cost.crossingBytesPerToken, cost.crossingLayers], [5120, 1]);
        assert.equal(cost.source, 'test');
        assert.match(cost.summary, /^≈ 5\.1 KB cross per token \(1 layer's queries, new keys and values, and outputs\); at a full context decode ≈ 43 tok\/s, against 77 with the full heads on the GPU$/);
        // a CPU-backed Vulkan device is measured, a real GPU assumed, and the source says which
        assert.ok(isCpuBackedGpu('llvmpipe (LLVM 19.1.7, 256 bits)') && !isCpuBackedGpu('NVIDIA GeForce RTX 4070'));
        assert.match(decodeRatesFor({ gpu: 'vulkan', gpuName: 'llvmpipe (LLVM 19.1.7, 256 bits)' }, 2).source, /CPU-backed Vulkan device: its rates were measured on llvmpipe/);
        assert.match(decodeRatesFor({ gpu: 'cuda', gpuName: 'NVIDIA GeForce RTX 4070' }, 8).source, /assumed/);
        assert.ok(decodeRatesFor({ gpu: 'cuda', gpuName: null }, 8).cpuKv > decodeRatesFor({ gpu: 'cuda', gpuName: null }, 2).cpuKv, 'more threads read faster');
    });
});

describe('npm run niah (organism, kv off)', () => {
    test('finds every needle up to 512 tokens and writes niah.json and its heatmap', async () => {
        const out = await mkdtemp(path.join(os.tmpdir(), 'headroom-niah-'));
        const result = await cli('niahCli.ts', ['--model', ORGANISM, '--lengths', '256,512', '--depths', '0,0.5,1', '--trials', '1', '--seed', '3', '--kv', 'off', '--out', out]);
        assert.equal(result.code, 0, result.stderr);
        const niah = NiahResult.parse(JSON.parse(await readFile(path.join(out, 'niah.json'), 'utf8')));
        assert.equal(niah.model, 'organism.gguf');
        assert.equal(niah.kv.mode, 'off');
        assert.equal(niah.trials.length, 2 * 3);
        // The organism gets 10/10 at 512 tokens (shared/models/README.md).
        assert.ok(niah.accuracy === 1, `accuracy ${niah.accuracy}: ${JSON.stringify(niah.trials.filter((t) => !t.correct))}`);
        for (const trial of niah.trials) {
            assert.ok(trial.promptTokens <= trial.contextTokens && trial.promptTokens > trial.contextTokens * 0.9, `prompt of ${trial.promptTokens} tokens for ${trial.contextTokens}`);
            assert.equal(trial.correct, trial.answer.includes(trial.expected));
        }
        assert.equal(new Set(niah.trials.map((t) => t.expected)).size, niah.trials.length, 'every trial has its own passcode');
        const png = await pngSize(path.join(out, 'niah.png'));
        assert.ok(png.width >= 300 && png.height >= 250 && png.bytes > 5000, JSON.stringify(png));
        assert.match(result.stdout, /accuracy \d+/);
    });

    test('a compressed mode without a profile, or a bad option, is refused in one line', async () => {
        const out = await mkdtemp(path.join(os.tmpdir(), 'headroom-niah-'));
        const profiles = await mkdtemp(path.join(os.tmpdir(), 'headroom-profiles-'));
        const noProfile = await cli('niahCli.ts', ['--model', ORGANISM, '--lengths', '256', '--depths', '0.5', '--kv', 'auto', '--out', out], { HEADROOM_PROFILE_DIR: profiles });
        assert.equal(noProfile.code, 1);
        assert.match(noProfile.stderr, /^error \(NOT_FOUND\): No head profile for organism\.gguf .*npm run profile/);
        const bad = await cli('niahCli.ts', ['--model', ORGANISM, '--kv', 'budget:2', '--out', out]);
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /^error \(BAD_REQUEST\): --kv must be off, auto or a budget in \(0, 1\], not "budget:2"/);
        const badHeads = await cli('niahCli.ts', ['--model', ORGANISM, '--kv', 'budget:0.25', '--heads', 'middle', '--out', out]);
        assert.equal(badHeads.code, 1);
        assert.match(badHeads.stderr, /^error \(BAD_REQUEST\): --heads is top/);
        assert.doesNotMatch(bad.stderr + noProfile.stderr + badHeads.stderr, /\n\s+at /, 'no stack traces');
    });
});

describe('needle accuracy on the head-level KV cache (organism, 1,792 tokens, 25% budget)', requiresNative(), () => {
    // At 1,792 tokens a 25% budget (sinks 4, window 128) keeps 2 of 16 heads full. Needles at
    // half depth or later: nearer the start organism's full cache already misses digits at this
    // length (bench/results), which would say nothing about compression.
    const args = ['--model', ORGANISM, '--lengths', '1792', '--depths', '0.5,0.75,1', '--trials', '2', '--seed', '5'];
    let profiles = '';
    const niah = async (kv: string, heads: 'top' | 'lowest' = 'top') => {
        const out = await mkdtemp(path.join(os.tmpdir(), 'headroom-niah-'));
        const result = await cli('niahCli.ts', [...args, '--kv', kv, '--heads', heads, '--out', out], { HEADROOM_PROFILE_DIR: profiles });
        assert.equal(result.code, 0, result.stderr);
        return NiahResult.parse(JSON.parse(await readFile(path.join(out, 'niah.json'), 'utf8')));
    };

    test('the profiled heads keep the full cache\'s accuracy; the same budget on the lowest-scoring heads does not', async () => {
        profiles = await mkdtemp(path.join(os.tmpdir(), 'headroom-profiles-'));
        // The profile is measured here and found by the model file's sha256, as a user's would be.
        const profiled = await cli('profileCli.ts', ['--model', ORGANISM, '--prompts', '3', '--tokens', '512', '--context', '1024', '--validation-prompts', '2'], { HEADROOM_PROFILE_DIR: profiles });
        assert.equal(profiled.code, 0, profiled.stderr);
        const full = await niah('off');
        const top = await niah('budget:0.25');
        const lowest = await niah('budget:0.25', 'lowest');
        const summary = JSON.stringify({ full: full.accuracy, top: top.accuracy, lowest: lowest.accuracy });
        assert.ok(full.accuracy >= 0.75, `full cache ${summary}`);
        assert.equal(top.fullHeads, 2);
        assert.equal(lowest.fullHeads, 2);
        assert.equal(top.heads, 'top');
        assert.equal(lowest.heads, 'lowest');
        assert.ok(top.accuracy >= 0.95 * full.accuracy, `profiled heads at 25%: ${summary}`);
        assert.ok(lowest.accuracy <= full.accuracy - 0.5, `lowest-scoring heads at 25% must be clearly worse: ${summary}`);
    });
});

describe('npm run bench:kv (organism)', requiresNative(), () => {
    test('measures the stock cache and the compressed modes in one run, with the bytes llama.cpp allocated', async () => {
        const out = await mkdtemp(path.join(os.tmpdir(), 'headroom-bench-'));
        const profiles = await mkdtemp(path.join(os.tmpdir(), 'headroom-profiles-'));
        const result = await cli('kvBenchCli.ts', ['--model', ORGANISM, '--lengths', '512,2048', '--decode', '16', '--repeats', '2', '--layout', `profile:${path.join(root, 'bench/results/cpu-organism-profile/organism.profile.json')}`, '--out', out], { HEADROOM_PROFILE_DIR: profiles });
        assert.equal(result.code, 0, result.stderr);
        const bench = KvBenchResult.parse(JSON.parse(await readFile(path.join(out, 'kv-bench.json'), 'utf8')));
        assert.match(bench.device, /^cpu: .+, 1 thread/);
        assert.deepEqual(bench.runs.map((r) => [r.mode, r.contextTokens]), [['off', 512], ['budget 0.5', 512], ['off', 2048], ['budget 0.5', 2048], ['budget 0.25', 2048]]);
        // at 512 tokens (768 cells) the streaming heads alone take 38 % of the cache: a quarter keeps no head full, and says so
        assert.deepEqual(bench.skipped.map((s) => [s.mode, s.contextTokens, s.layout]), [['budget 0.25', 512, 'profile:organism.profile.json']]);
        assert.match(bench.skipped[0]?.reason ?? '', /keeps no head full at 768 tokens/);
        // two rounds, the second in reverse order, after a warm-up of each side
        const labels = ['off', 'budget 0.5 profile:organism.profile.json', 'budget 0.25 profile:organism.profile.json'];
        assert.deepEqual(bench.method?.order.map((o) => o.rounds), [[labels.slice(0, 2), labels.slice(0, 2).reverse()], [labels, [...labels].reverse()]]);
        assert.match(bench.method?.warmup ?? '', /untimed/);
        for (const r of bench.runs) {
            assert.ok(r.prefillTokPerSec > 0 && r.decodeTokPerSec > 0);
            assert.equal(r.prefill?.samples.length, 2);
            assert.equal(r.decodeTokPerSec, r.decode?.median);
            assert.ok(r.decode != null && r.decode.min <= r.decode.median && r.decode.median <= r.decode.max);
            // organism ends its answer with an end-of-sequence token; decoding goes on past it and counts what it generated
            assert.deepEqual(r.decodeTokens, [16, 16]);
            assert.equal(r.layout, r.mode === 'off' ? null : 'profile:organism.profile.json');
            assert.equal(r.headOrder, r.mode === 'off' ? null : 'profile');
            assert.ok(r.mixedLayers != null && r.mixedLayers <= 4);
            assert.deepEqual(r.copyBytesPerToken, { prefill: 0, decode: 0 }, 'one backend: nothing crosses');
            assert.equal(r.kvBytes.gpu, 0);
            // organism: 4 layers × 4 KV heads × (16 + 16) F16 values per token, over llama.cpp's padded cells.
            assert.deepEqual(r.kvBytes, r.kvBytesFormula, `${r.mode} at ${r.contextTokens}: allocated = formula`);
            assert.equal(r.kvBytes.cpu, r.kvBuffers.reduce((sum, b) => sum + b.bytes, 0));
            assert.ok(r.kvBuffers.every((b) => (r.mode === 'off') === (b.kind === 'stock')), JSON.stringify(r.kvBuffers));
        }
        const at2048 = (mode: string) => {
            const run = bench.runs.find((r) => r.mode === mode && r.contextTokens === 2048);
            assert.ok(run != null, `a ${mode} run at 2,048 tokens`);
            return run;
        };
        assert.ok(at2048('off').kvBytes.cpu >= (2048 + 16) * 4 * 4 * 64);
        assert.ok(at2048('budget 0.25').kvBytes.cpu <= 0.25 * at2048('off').kvBytes.cpu, 'a quarter of the stock cache at most');
        assert.ok(at2048('budget 0.5').kvBytes.cpu <= 0.5 * at2048('off').kvBytes.cpu);
        assert.ok(at2048('budget 0.25').fullHeads >= 1 && at2048('budget 0.25').fullHeads < at2048('budget 0.5').fullHeads);
        const png = await pngSize(path.join(out, 'kv-bench.png'));
        assert.ok(png.width >= 800 && png.bytes > 10000, JSON.stringify(png));
    });
});

describe('npm run profile (organism)', () => {
    test('scores heads by attention in one pass a prompt, finds layer 3 KV head 1, validates the budget, stores the profile by sha256 and reuses it', requiresNative(), async () => {
        const profiles = await mkdtemp(path.join(os.tmpdir(), 'headroom-profiles-'));
        const env = { HEADROOM_PROFILE_DIR: profiles };
        const args = ['--model', ORGANISM, '--prompts', '3', '--tokens', '512', '--context', '1024', '--validation-prompts', '3'];
        const first = await cli('profileCli.ts', args, env);
        assert.equal(first.code, 0, first.stderr);
        const sha256 = await sha256OfFile(ORGANISM);
        const stored = path.join(profiles, `${sha256}.json`);
        assert.equal(first.stdout.trim(), stored);
        assert.match(first.stderr, /method attention/);
        assert.match(first.stderr, /scoring 16 KV heads by attention on the needle, one pass over 3 prompts/);
        const profile = HeadProfile.parse(JSON.parse(await readFile(stored, 'utf8')));
        assert.deepEqual([profile.source, profile.method], ['profiler', 'attention']);
        assert.deepEqual([profile.layers, profile.kvHeads], [4, 4]);
        const [top, second] = rankHeads(profile.scores);
        assert.ok(top != null && second != null);
        assert.deepEqual([top.layer, top.head], [3, 1]);
        // A share of the answer's attention: layer 3's query heads 2 and 3 look at the needle, the rest hardly.
        assert.ok(top.score > 0.5 && top.score <= 1 && second.score < 0.2, `one head stands out: ${JSON.stringify(profile.scores)}`);
        const validation = profile.validation;
        assert.ok(validation != null);
        assert.equal(validation.verdict, 'validated');
        assert.equal(validation.filler, 'filler-gpl-3.0.txt', 'held-out prompts use the other filler');
        assert.equal(validation.contextTokens, 1024);
        const chosen = validation.checks.filter((c) => c.passed).sort((a, b) => a.fullHeads - b.fullHeads)[0];
        assert.ok(chosen != null && chosen.fullHeads >= 1 && chosen.fullHeads < 16, JSON.stringify(validation.checks));
        assert.ok(chosen.accuracy >= 0.95 * validation.fullAccuracy);
        // bisection: the plan one head smaller was checked as a whole and lost the needle
        assert.ok(validation.checks.some((c) => !c.passed && c.fullHeads === chosen.fullHeads - 1), JSON.stringify(validation.checks));
        assert.equal(profile.recommendedBudget, chosen.budget);

        const chart = path.join(profiles, 'profile.png');
        const again = await cli('profileCli.ts', [...args, '--chart', chart], env);
        assert.equal(again.code, 0, again.stderr);
        assert.match(again.stderr, /reusing the profile/);
        const png = await pngSize(chart);
        assert.ok(png.width >= 400 && png.bytes > 5000, JSON.stringify(png));
        assert.equal((await readFile(stored, 'utf8')), JSON.stringify(profile, null, 2) + '\n', 'left as it was');

        const badMethod = await cli('profileCli.ts', [...args, '--method', 'eviction', '--force'], env);
        assert.equal(badMethod.code, 1);
        assert.match(badMethod.stderr, /^error \(BAD_REQUEST\): --method is attention \(one pass per prompt\) or ablation/m);
    });

    test('on the stock llama.cpp it refuses in one sentence, saying what it needs (the eviction emulation is gone)', async () => {
        const profiles = await mkdtemp(path.join(os.tmpdir(), 'headroom-profiles-'));
        for (const method of ['attention', 'ablation']) {
            const refused = await cli('profileCli.ts', ['--model', ORGANISM, '--method', method, '--force'], { HEADROOM_PROFILE_DIR: profiles, HEADROOM_LLAMA_BUILD: 'stock' });
            assert.equal(refused.code, 1);
            assert.match(refused.stderr, /^error \(NOT_AVAILABLE\): Profiling heads needs Headroom's engine: set Settings → Engine to "compressed"/m);
            assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
        }
        assert.deepEqual(readdirSync(profiles), [], 'nothing stored');
        assert.equal(existsSync(path.join(root, 'engine/profiler/kvStateEviction.ts')), false);
    });

    test('imports a DuoAttention pattern TSV, checked against the model shape', async () => {
        const profiles = await mkdtemp(path.join(os.tmpdir(), 'headroom-profiles-'));
        const scores = [[0.5, 0, 0.96875, 0.68359375], [0.99609375, 0, 0.8125, 1], [0, 0.9921875, 0, 0.9765625], [0.84375, 0.07421875, 0.2275390625, 1]];
        // DuoAttention writes numpy's scientific notation, and optimization leaves gates a hair below 0.
        const tsv = scores.map((row) => row.map((v) => (v === 0 ? '-9.584426879882812500e-05' : v.toExponential(18))).join('\t')).join('\n') + '\n';
        assert.deepEqual(parseDuoTsv(tsv), scores, 'gates clipped to [0, 1], as DuoAttention\'s loader does');
        assert.deepEqual(parseDuoTsv(formatDuoTsv(scores)), scores);
        const tsvPath = path.join(profiles, 'full_attention_heads.tsv');
        await writeFile(tsvPath, tsv);
        const out = path.join(profiles, 'duo.json');
        const result = await cli('profileCli.ts', ['--model', ORGANISM, '--duo', tsvPath, '--out', out]);
        assert.equal(result.code, 0, result.stderr);
        const profile = HeadProfile.parse(JSON.parse(await readFile(out, 'utf8')));
        assert.equal(profile.source, 'duo-attention');
        assert.equal(profile.modelSha256, await sha256OfFile(ORGANISM));
        assert.deepEqual(profile.scores, scores);
        assert.equal(formatDuoTsv(profile.scores), formatDuoTsv(scores));

        // Another model's pattern, or a damaged file, is refused with the reason.
        assert.throws(() => profileFromDuo([...scores, [1, 1, 1, 1]], { sha256: profile.modelSha256, layers: 4, kvHeads: 4 }),
            { code: 'BAD_REQUEST', message: /The DuoAttention pattern is 5 layers × 4 KV heads, but the model has 4 × 4/ });
        assert.throws(() => parseDuoTsv('1\t0.5\n0.2\tx\n'), { code: 'BAD_REQUEST', message: /row 2, column 2: "x" is not a gate value/ });
        assert.throws(() => parseDuoTsv('1\t0.5\n0.2\t1.5\n'), { code: 'BAD_REQUEST', message: /row 2, column 2: "1.5" is not a gate value/ });
        assert.throws(() => parseDuoTsv('1\t0.5\n0.2\n'), { code: 'BAD_REQUEST', message: /row 2 has 1 heads, row 1 has 2/ });
        await writeFile(tsvPath, formatDuoTsv(scores.slice(1)));
        const wrongShape = await cli('profileCli.ts', ['--model', ORGANISM, '--duo', tsvPath, '--out', out]);
        assert.equal(wrongShape.code, 1);
        assert.match(wrongShape.stderr, /^error \(BAD_REQUEST\): The DuoAttention pattern is 3 layers/m);
        assert.doesNotMatch(wrongShape.stderr, /\n\s+at /, 'no stack trace');
    });
});
