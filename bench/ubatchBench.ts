// Prefill at several batch sizes, compressed against stock, with llama.cpp's own llama-bench from
// our build (it takes --kv-head-policy): the same patched llama.cpp the engine loads, measured the
// way llama.cpp's tables are. A streaming head holds its sinks, its window and one ubatch
// (streamingCells() in common/kv/policy.ts), so a larger ubatch costs KV bytes; this measures what
// it buys in prefill speed. Each side is one llama-bench invocation (-r 1, llama-bench's own warm-up
// run first), the sides alternating in order from round to round.
//   node bench/ubatchBench.ts --llama-bench <path> --model <gguf> --out <dir>
//     [--lengths 2048] [--ubatch 128,256,512] [--stock-ubatch 512] [--budget 0.25] [--layout duo:<id>|fallback|profile:<json>]
//     [--repeats 3] [--threads 2] [--sinks 4] [--window 128]
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { HELP_OPTION, helpText, usageLine, type CliSpec } from '../common/cliHelp.ts';
import { HeadroomError } from '../common/errors.ts';
import { DEFAULT_SINKS, DEFAULT_WINDOW, fallbackScores, fullHeadsForBudget, kvBytes, planForBudget, streamingCells, type HeadPlan } from '../common/kv/policy.ts';
import { attentionFromMetadata, contextCellsFor, kvShapeOf, type KvShape } from '../common/modelShape.ts';
import { formatPolicyFile } from '../engine/kv/native.ts';
import { parseBufferLine } from '../engine/llamaLog.ts';
import { modelSha256 } from '../engine/modelHash.ts';
import { groupedBarsSvg } from './charts.ts';
import { parseNumberList, runCli } from './cliArgs.ts';
import { LAYOUT_USAGE, layoutLabel, mixedLayers, parseLayouts, profileForLayout } from './layouts.ts';
import { schedule, Spread, spread } from './method.ts';
import { writeRun } from './results.ts';

export const UbatchRun = z.object({
    /** stock: the standard cache; compressed: the head plan, the same full heads at every ubatch. */
    cache: z.enum(['stock', 'compressed']),
    ubatch: z.number().int().positive(),
    contextTokens: z.number().int().positive(),
    prefill: Spread,
    /** What llama.cpp logged allocating for the KV cache (its KV buffer lines), and kvBytes() of policy.ts for the same plan and ubatch. */
    kvBytes: z.number().nonnegative(),
    kvBytesFormula: z.number().nonnegative(),
    /** Cells each streaming head holds at this ubatch (0 for the stock cache). */
    streamingCells: z.number().int().nonnegative(),
    fullHeads: z.number().int().nonnegative(),
    /** The full heads the same budget would keep at this ubatch (the streaming heads' cells grow with it). */
    fullHeadsAtBudget: z.number().int().nonnegative().nullable(),
});
export type UbatchRun = z.infer<typeof UbatchRun>;

export const UbatchBenchResult = z.object({
    model: z.string(),
    device: z.string(),
    tool: z.string(),
    budget: z.number(),
    layout: z.string(),
    mixedLayers: z.number().int().nonnegative(),
    sinks: z.number().int(),
    window: z.number().int(),
    runs: z.array(UbatchRun),
    method: z.object({ rounds: z.number().int(), warmup: z.string(), order: z.array(z.object({ contextTokens: z.number().int(), rounds: z.array(z.array(z.string())) })) }),
    createdAt: z.string(),
});
export type UbatchBenchResult = z.infer<typeof UbatchBenchResult>;

interface Side {
    cache: 'stock' | 'compressed';
    ubatch: number;
    label: string;
}

/** Runs llama-bench once; resolves with its prefill tokens/s and the KV bytes it logged. */
function llamaBench(tool: string, args: string[]): Promise<{ tokPerSec: number; kvBytes: number; log: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
        child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
        child.on('error', reject);
        child.on('close', (code) => {
            if (code !== 0) return reject(new HeadroomError('MODEL_LOAD_FAILED', `llama-bench failed (${code}): ${err.slice(-1500)}`));
            const json = JSON.parse(out.slice(out.indexOf('['))) as { avg_ts: number }[];
            const tokPerSec = json[0]?.avg_ts;
            if (tokPerSec == null) return reject(new HeadroomError('MODEL_LOAD_FAILED', `llama-bench printed no result: ${out.slice(0, 500)}`));
            // -v logs each cache's "<buffer type> KV buffer size = … MiB" (the head-level cache one per kind)
            const kv = err.split('\n').map(parseBufferLine).filter((line) => line?.kind === 'kv').reduce((sum, line) => sum + (line?.bytes ?? 0), 0);
            resolve({ tokPerSec, kvBytes: kv, log: err });
        });
    });
}

export async function runUbatchBench(options: {
    tool: string; modelPath: string; lengths: number[]; ubatches: number[]; stockUbatches: number[]; budget: number;
    layout: string; repeats: number; threads: number; sinks: number; window: number; logDir: string; log: (line: string) => void;
}): Promise<UbatchBenchResult> {
    const { readGgufFileInfo } = await import('node-llama-cpp');
    const info = await readGgufFileInfo(options.modelPath, { readTensorInfo: false });
    const attention = attentionFromMetadata(info.metadata);
    const [layout] = parseLayouts(options.layout);
    if (layout == null) throw new HeadroomError('BAD_REQUEST', 'one --layout');
    const found = await profileForLayout(layout, { sha256: () => modelSha256(options.modelPath), layers: attention.layers, kvHeads: attention.kvHeads });
    const sides: Side[] = [
        ...options.stockUbatches.map((ubatch): Side => ({ cache: 'stock', ubatch, label: `stock ub ${ubatch}` })),
        ...options.ubatches.map((ubatch): Side => ({ cache: 'compressed', ubatch, label: `compressed ub ${ubatch}` })),
    ];
    const runs: UbatchRun[] = [];
    const order: UbatchBenchResult['method']['order'] = [];
    let mixed = 0;
    await mkdir(options.logDir, { recursive: true });
    for (const length of options.lengths) {
        const contextCells = contextCellsFor(length);
        const shapeAt = (ubatch: number): KvShape => kvShapeOf(attention, { contextCells, batchSize: ubatch, cacheType: 'f16' });
        // the plan the engine runs: its budget spent at the engine's batch of 128
        const engineShape = shapeAt(128);
        const scores = found.profile === undefined || found.profile === null ? fallbackScores(engineShape) : found.profile.profile.scores;
        const settings = { sinks: options.sinks, window: options.window, fullPlacement: 'cpu' as const };
        const plan: HeadPlan = planForBudget(engineShape, scores, options.budget, settings);
        mixed = mixedLayers(plan);
        const policyFile = path.join(options.logDir, `policy-${length}.txt`);
        await writeFile(policyFile, formatPolicyFile(plan));
        const samples = new Map<Side, { tokPerSec: number[]; kvBytes: number[] }>(sides.map((s) => [s, { tokPerSec: [], kvBytes: [] }]));
        const rounds = schedule(sides, options.repeats);
        order.push({ contextTokens: length, rounds: rounds.map((round) => round.map((s) => s.label)) });
        for (const [r, round] of rounds.entries()) {
            for (const side of round) {
                const args = ['-m', options.modelPath, '-p', String(length), '-n', '0', '-b', String(side.ubatch), '-ub', String(side.ubatch),
                    '-t', String(options.threads), '-fa', '1', '-r', '1', '-o', 'json', '-v', ...(side.cache === 'compressed' ? ['--kv-head-policy', policyFile] : [])];
                const result = await llamaBench(options.tool, args);
                await writeFile(path.join(options.logDir, `${length}-${side.cache}-ub${side.ubatch}-round${r + 1}.log`), result.log);
                const s = samples.get(side);
                s?.tokPerSec.push(result.tokPerSec);
                s?.kvBytes.push(result.kvBytes);
                options.log(`${length} tokens, ${side.label}, round ${r + 1}/${options.repeats}: prefill ${result.tokPerSec.toFixed(2)} tok/s, KV ${(result.kvBytes / 2 ** 20).toFixed(2)} MiB`);
            }
        }
        for (const side of sides) {
            const s = samples.get(side);
            if (s == null) continue;
            const shape = shapeAt(side.ubatch);
            const compressed = side.cache === 'compressed';
            const formula = kvBytes(shape, compressed ? plan : null, 'cpu');
            runs.push({
                cache: side.cache, ubatch: side.ubatch, contextTokens: length, prefill: spread(s.tokPerSec),
                kvBytes: s.kvBytes[0] ?? 0, kvBytesFormula: formula.gpu + formula.cpu,
                streamingCells: compressed ? streamingCells(shape, options.sinks, options.window) : 0,
                fullHeads: compressed ? plan.policy.flat().filter((p) => p === 'full').length : attention.layers * attention.kvHeads,
                fullHeadsAtBudget: compressed ? fullHeadsForBudget(shape, options.budget, settings) : null,
            });
        }
    }
    const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
    return UbatchBenchResult.parse({
        model: path.basename(options.modelPath), device: `cpu: ${cpu}, ${options.threads} threads (${os.cpus().length} cores)`, tool: options.tool,
        budget: options.budget, layout: layoutLabel(layout), mixedLayers: mixed, sinks: options.sinks, window: options.window, runs,
        method: { rounds: options.repeats, warmup: 'llama-bench\'s own warm-up run in every invocation', order },
        createdAt: new Date().toISOString(),
    });
}

export function ubatchSvg(result: UbatchBenchResult): string {
    const lengths = [...new Set(result.runs.map((r) => r.contextTokens))].sort((a, b) => a - b);
    const keys = [...new Set(result.runs.map((r) => `${r.cache} ub ${r.ubatch}`))];
    const pick = <T>(f: (run: UbatchRun) => T) => keys.map((key) => lengths.map((length) => {
        const run = result.runs.find((r) => `${r.cache} ub ${r.ubatch}` === key && r.contextTokens === length);
        return run == null ? null : f(run);
    }));
    return groupedBarsSvg({
        title: `Prefill by ubatch: ${result.model}, budget ${result.budget} (${result.layout}), median of ${result.method.rounds} alternating rounds`,
        groups: lengths.map(String),
        groupLabel: 'context length (tokens)',
        series: keys,
        panels: [
            { title: 'Prefill', yLabel: 'tokens / s', values: pick((r) => r.prefill.median), ranges: pick((r) => [r.prefill.min, r.prefill.max] as [number, number]) },
            { title: 'KV cache', yLabel: 'MiB', values: pick((r) => r.kvBytes / 2 ** 20) },
        ],
    });
}

const SPEC = {
    command: 'node bench/ubatchBench.ts',
    summary: 'Prefill at several batch sizes, the head plan against the stock cache, with our build\'s llama-bench (it takes --kv-head-policy); writes ubatch-bench.json and ubatch-bench.png.',
    options: {
        'llama-bench': { type: 'string', value: '<path>', help: 'llama-bench built from our patches (bench/gpu/check.sh builds one in .gpu/build-cpu/bin)', required: true },
        model: { type: 'string', value: '<gguf>', help: 'the model', required: true },
        out: { type: 'string', value: '<dir>', help: 'where the results go', required: true },
        lengths: { type: 'string', default: '2048', value: '<tokens,…>', help: 'prompt lengths' },
        ubatch: { type: 'string', default: '128,256,512', value: '<n,…>', help: 'batch sizes for the head plan' },
        'stock-ubatch': { type: 'string', default: '512', value: '<n,…>', help: 'batch sizes for the stock cache' },
        budget: { type: 'string', default: '0.25', value: '<share>', help: 'the share of the cache the plan keeps at the engine\'s batch of 128; the same heads stay full at every batch size' },
        layout: { type: 'string', default: 'fallback', value: LAYOUT_USAGE.replace(/^--layout /, ''), help: 'which heads stay full' },
        repeats: { type: 'string', default: '3', value: '<n>', help: 'timed rounds, each side once per round in alternating order' },
        threads: { type: 'string', default: String(os.cpus().length), value: '<n>', help: 'CPU threads' },
        sinks: { type: 'string', default: String(DEFAULT_SINKS), value: '<n>', help: 'first tokens every streaming head keeps' },
        window: { type: 'string', default: String(DEFAULT_WINDOW), value: '<n>', help: 'recent tokens every streaming head keeps' },
        help: HELP_OPTION,
    },
} as const satisfies CliSpec;

if (process.argv[1] === new URL(import.meta.url).pathname) {
    runCli(async () => {
        const { values } = parseArgs({ options: SPEC.options });
        if (values.help === true) return void process.stdout.write(helpText(SPEC));
        if (values['llama-bench'] == null || values.model == null || values.out == null) throw new HeadroomError('BAD_REQUEST', usageLine(SPEC));
        const budget = Number(values.budget);
        if (!(budget > 0 && budget <= 1)) throw new HeadroomError('BAD_REQUEST', `--budget is a share in (0, 1], not "${values.budget}".`);
        const result = await runUbatchBench({
            tool: values['llama-bench'], modelPath: values.model, lengths: parseNumberList(values.lengths, 'lengths'),
            ubatches: parseNumberList(values.ubatch, 'ubatch'), stockUbatches: parseNumberList(values['stock-ubatch'], 'stock-ubatch'),
            budget, layout: values.layout, repeats: Number(values.repeats), threads: Number(values.threads),
            sinks: Number(values.sinks), window: Number(values.window), logDir: path.join(values.out, 'logs'),
            log: (line) => process.stderr.write(`${line}\n`),
        });
        const { json, png } = await writeRun(values.out, 'ubatch-bench', result, ubatchSvg(result));
        process.stdout.write(`${json}\n${png}\n`);
    });
}
