// `npm run eval`: the generated tasks of engine/eval.ts asked through the app's own chat path (an
// engine host under the supervisor, generate.run with the documents and the turns before, as
// ChatService sends them), at each length once with the full cache and once with the head plan,
// on the same chats. Writes eval.json (common/eval.ts) and eval.png; `--chart <dir>` draws every
// run in a results folder side by side (eval-summary.png).
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { spawnNodeHost } from '../backend/host/nodeHost.ts';
import { EngineSupervisor } from '../backend/host/supervisor.ts';
import type { ModelInfo, Params } from '../common/contract.ts';
import { HeadroomError } from '../common/errors.ts';
import { EvalResult, evalTaskLabel, evalTaskResults, type EvalAnswer, type EvalCache, type EvalLength, type EvalTaskName } from '../common/eval.ts';
import { KV_OFF, type KvOptions, type ProfileSummary } from '../common/kv/policy.ts';
import type { KvStats } from '../common/kv/usage.ts';
import { kvLabel } from '../common/niah.ts';
import { buildEvalChats, evalFillerName, runEvalChats, type AskTurn, type EvalChat, type EvalGrid } from '../engine/eval.ts';
import { openModel } from '../engine/load.ts';
import { computeDevice, deviceName, deviceTitle, runtime } from '../engine/runtime.ts';
import { groupedBarsSvg } from './charts.ts';
import { svgToPng } from './svgPng.ts';
import { writeRun } from './results.ts';

export interface EvalOptions extends EvalGrid {
    modelPath: string;
    /** The cache to compare with the full one (mode off: the full cache alone). */
    kv: KvOptions;
    /** Context sizes: each length is loaded as its own context. */
    lengths: number[];
    threads?: number;
    /** The command line, recorded in the result. */
    command: string;
    log?: (line: string) => void;
    onAnswer?: (cache: 'full' | 'plan', answer: EvalAnswer, done: number, total: number) => void;
}

const sum = (bytes: { gpu: number; cpu: number }) => bytes.gpu + bytes.cpu;

function cacheOf(contextSize: number, stats: KvStats): EvalCache {
    const compressed = stats.compression.active;
    const heads = stats.policy.flat();
    return {
        contextSize, compressed, refused: null,
        fullHeads: heads.filter((p) => p === 'full').length, totalHeads: heads.length,
        sinks: compressed ? stats.sinks : null, window: compressed ? stats.window : null,
        budget: stats.budget,
        kvBytes: { planned: sum(stats.planned), allocated: sum(stats.allocated) },
        policy: compressed ? stats.policy : null,
    };
}

const refusedCache = (contextSize: number, reason: string): EvalCache => ({
    contextSize, compressed: false, refused: reason, fullHeads: null, totalHeads: null, sinks: null, window: null, budget: null, kvBytes: null, policy: null,
});

/** One cache at one length: loaded in the engine host, every chat asked through generate.run. */
async function runCache(
    supervisor: EngineSupervisor, load: Params<'model.load'>, chats: readonly EvalChat[], onAnswer: (answer: EvalAnswer, done: number, total: number) => void,
): Promise<{ cache: EvalCache; answers: EvalAnswer[]; info: ModelInfo | null }> {
    const contextSize = load.contextSize ?? 0;
    let info: ModelInfo;
    try {
        info = await supervisor.load(load);
    } catch (error) {
        // A budget that keeps no head full at this length: said so, and the length runs the full cache alone.
        if (error instanceof HeadroomError && error.code === 'BAD_REQUEST') return { cache: refusedCache(contextSize, error.message), answers: [], info: null };
        throw error;
    }
    if (load.kv != null && load.kv.mode !== 'off' && !info.kv.active) {
        return { cache: refusedCache(info.contextSize, info.kv.reason ?? 'The head-level cache is not active.'), answers: [], info };
    }
    const cache = cacheOf(info.contextSize, await supervisor.kvStats());
    let turns = 0;
    const ask: AskTurn = async (turn) => {
        const reply = await supervisor.generate({ generationId: `eval-${turns++}`, ...turn });
        return { text: reply.text, promptTokens: reply.prefill.tokens, reusedTokens: reply.prefill.reusedTokens };
    };
    return { cache, answers: await runEvalChats(chats, ask, onAnswer), info };
}

/** The chats of every length, with the full cache and with the plan; the result as eval.json holds it. */
export async function runEval(options: EvalOptions): Promise<EvalResult> {
    const log = options.log ?? (() => undefined);
    // The chats are built here, with the model's own tokenizer (no GPU layers: nothing is evaluated in this process).
    const tokenizer = await openModel({ path: options.modelPath, gpuLayers: 0 });
    const supervisor = new EngineSupervisor(spawnNodeHost, () => undefined);
    const lengths: EvalLength[] = [];
    const full: EvalAnswer[] = [];
    const plan: EvalAnswer[] = [];
    let profile: ProfileSummary | null = null;
    let threads = options.threads ?? 1;
    try {
        for (const contextSize of options.lengths) {
            const chats = await buildEvalChats(tokenizer.model, options, contextSize);
            const load = { path: options.modelPath, contextSize, ...(options.threads != null ? { threads: options.threads } : {}) };
            // The plan first: where it is refused there is nothing to compare, and the full cache is not run either.
            let planCache: EvalCache | null = null;
            if (options.kv.mode !== 'off') {
                log(`${contextSize} tokens: ${chats.length} chats, kv ${kvLabel(options.kv)}, sinks ${options.kv.sinks}, window ${options.kv.window}`);
                const planRun = await runCache(supervisor, { ...load, kv: options.kv }, chats, (answer, done, total) => options.onAnswer?.('plan', answer, done, total));
                profile ??= planRun.info?.headProfile ?? null;
                planCache = planRun.cache;
                plan.push(...planRun.answers);
                if (planRun.cache.refused != null) {
                    log(`  refused: ${planRun.cache.refused}`);
                    lengths.push({ contextTokens: contextSize, full: null, plan: planCache });
                    continue;
                }
            }
            log(`${contextSize} tokens: ${chats.length} chats, full cache`);
            const fullRun = await runCache(supervisor, { ...load, kv: KV_OFF }, chats, (answer, done, total) => options.onAnswer?.('full', answer, done, total));
            threads = fullRun.info?.threads ?? threads;
            full.push(...fullRun.answers);
            lengths.push({ contextTokens: contextSize, full: fullRun.cache, plan: planCache });
        }
    } finally {
        supervisor.dispose();
        await tokenizer.dispose();
    }
    const { llama } = await runtime.get();
    const compute = computeDevice(llama);
    const gpuName = compute === 'gpu' ? (await llama.getGpuDeviceNames())[0] ?? null : null;
    return EvalResult.parse({
        model: path.basename(options.modelPath),
        kv: options.kv,
        profile,
        seed: options.seed,
        filler: evalFillerName(options),
        chats: options.chats,
        tasks: evalTaskResults(options.tasks, full, options.kv.mode === 'off' ? null : plan),
        lengths,
        answers: { full, plan },
        device: deviceName(compute, gpuName, threads),
        command: options.command,
        createdAt: new Date().toISOString(),
    });
}

const percent = (share: number) => `${Math.round(share * 100)} %`;
const kib = (bytes: number) => `${Math.round(bytes / 1024).toLocaleString('en-US')} KiB`;

/** "budget 0.25, sinks 4, window 128": the cache a run compared with the full one. */
export function evalRunLabel(result: Pick<EvalResult, 'kv'>): string {
    return result.kv.mode === 'off' ? 'full cache' : `${kvLabel(result.kv)}, sinks ${result.kv.sinks}, window ${result.kv.window}`;
}

/** A length's panel title: its heads and KV bytes beside the full cache's. */
function lengthTitle(length: EvalLength): string {
    const tokens = `${length.contextTokens.toLocaleString('en-US')} tokens`;
    const { plan, full } = length;
    if (plan?.refused != null || full == null) return `${tokens}: plan refused`;
    if (plan == null) return `${tokens}: KV ${kib(full.kvBytes?.allocated ?? 0)}`;
    const fullBytes = full.kvBytes?.allocated ?? 0;
    const planBytes = plan.kvBytes?.allocated ?? 0;
    return `${tokens}: ${plan.fullHeads}/${plan.totalHeads} full, KV ${fullBytes > 0 ? percent(planBytes / fullBytes) : kib(planBytes)}`;
}

/** One run: accuracy per task with its 95 % interval, a panel per length, the full cache beside the plan. */
export function evalSvg(result: EvalResult): string {
    const scores = (length: EvalLength, cache: 'full' | 'plan') => result.tasks.map((t) => {
        const row = t.lengths.find((l) => l.contextTokens === length.contextTokens);
        return (cache === 'full' ? row?.full : row?.plan) ?? null;
    });
    const caches = result.kv.mode === 'off' ? (['full'] as const) : (['full', 'plan'] as const);
    return groupedBarsSvg({
        title: `Eval: ${result.model}, ${evalRunLabel(result)} on ${deviceTitle(result.device)}`,
        groups: result.tasks.map((t) => evalTaskLabel(t.name)),
        groupLabel: `task (${result.chats} chats each; whiskers: 95 % interval)`,
        series: result.kv.mode === 'off' ? ['full cache'] : ['full cache', `${kvLabel(result.kv)} (${result.kv.sinks}/${result.kv.window})`],
        panels: result.lengths.map((length) => ({
            title: lengthTitle(length),
            yLabel: 'accuracy',
            values: caches.map((cache) => scores(length, cache).map((score) => score?.accuracy ?? null)),
            ranges: caches.map((cache) => scores(length, cache).map((score) => score?.interval95 ?? null)),
        })),
    });
}

export function writeEvalOutputs(result: EvalResult, outDir: string): Promise<{ json: string; png: string }> {
    return writeRun(outDir, 'eval', result, evalSvg(result));
}

/** Every eval.json in `dir` and its subfolders, one level down, in name order, with its folder. */
export async function readEvalResults(dir: string): Promise<{ name: string; dir: string; result: EvalResult }[]> {
    const entries = await readdir(dir, { withFileTypes: true });
    const files = [
        ...entries.filter((e) => e.isFile() && e.name === 'eval.json').map(() => ({ name: path.basename(dir), dir })),
        ...entries.filter((e) => e.isDirectory()).map((e) => ({ name: e.name, dir: path.join(dir, e.name) })),
    ];
    const results: { name: string; dir: string; result: EvalResult }[] = [];
    for (const found of files.sort((a, b) => a.name.localeCompare(b.name))) {
        const text = await readFile(path.join(found.dir, 'eval.json'), 'utf8').catch(() => null);
        if (text != null) results.push({ ...found, result: EvalResult.parse(JSON.parse(text)) });
    }
    return results;
}

/**
 * The runs of a results folder side by side: a panel per task, a group per length, the full cache
 * (at each length from the first run that ran it: the same chats give the same answers on every
 * run with the same seed) and each run's plan. A plan refused at a length draws nothing there.
 */
export function evalFolderSvg(runs: readonly { name: string; result: EvalResult }[]): string {
    const first = runs[0]?.result;
    if (first == null) throw new HeadroomError('NOT_FOUND', 'No eval.json in that folder.');
    const lengths = [...new Set(runs.flatMap((r) => r.result.lengths.map((l) => l.contextTokens)))].sort((a, b) => a - b);
    const planned = runs.filter((r) => r.result.kv.mode !== 'off');
    const rowOf = (result: EvalResult, name: EvalTaskName, length: number) => result.tasks.find((t) => t.name === name)?.lengths.find((l) => l.contextTokens === length);
    const planScores = (result: EvalResult, name: EvalTaskName) => lengths.map((length) => rowOf(result, name, length)?.plan ?? null);
    const fullScores = (name: EvalTaskName) => lengths.map((length) => runs.map((r) => rowOf(r.result, name, length)?.full).find((score) => score != null) ?? null);
    const series = (name: EvalTaskName) => [fullScores(name), ...planned.map((r) => planScores(r.result, name))];
    return groupedBarsSvg({
        title: `Eval: ${first.model} on ${deviceTitle(first.device)}, seed ${first.seed}, ${first.chats} chats per task and length`,
        groups: lengths.map((length) => length.toLocaleString('en-US')),
        groupLabel: 'context (tokens); whiskers: 95 % interval',
        series: ['full cache', ...planned.map((r) => `${kvLabel(r.result.kv)} ${r.result.kv.sinks}/${r.result.kv.window}`)],
        panels: first.tasks.map(({ name }) => ({
            title: evalTaskLabel(name),
            yLabel: 'accuracy',
            values: series(name).map((row) => row.map((score) => score?.accuracy ?? null)),
            ranges: series(name).map((row) => row.map((score) => score?.interval95 ?? null)),
        })),
    });
}

/**
 * Runs that asked the same chats (model, seed, chats per task, filler), so that one full-cache bar
 * stands for all of them; the largest set first. Runs of another seed or size are another chart.
 */
export function sameChats<T extends { result: EvalResult }>(runs: readonly T[]): T[][] {
    const sets = new Map<string, T[]>();
    for (const run of runs) {
        const key = JSON.stringify([run.result.model, run.result.seed, run.result.chats, run.result.filler]);
        sets.set(key, [...(sets.get(key) ?? []), run]);
    }
    return [...sets.values()].sort((a, b) => b.length - a.length);
}

/**
 * `--chart <dir>`: eval-summary.png of the runs in the folder that asked the same chats (the
 * largest such set; any other set gets eval-summary-seed<n>-<chats>-chats.png), and each run's
 * eval.png drawn again from its eval.json.
 */
export async function writeEvalFolderChart(dir: string): Promise<string[]> {
    const runs = await readEvalResults(dir);
    const summaries = sameChats(runs).map((set, index) => {
        const { seed, chats } = set[0]?.result ?? { seed: 0, chats: 0 };
        return { set, png: path.join(dir, index === 0 ? 'eval-summary.png' : `eval-summary-seed${seed}-${chats}-chats.png`) };
    });
    if (summaries.length === 0) throw new HeadroomError('NOT_FOUND', 'No eval.json in that folder.');
    for (const { set, png } of summaries) await writeFile(png, svgToPng(evalFolderSvg(set)));
    const each = runs.map((run) => path.join(run.dir, 'eval.png'));
    for (const [i, run] of runs.entries()) await writeFile(each[i] ?? '', svgToPng(evalSvg(run.result)));
    return [...summaries.map(({ png }) => png), ...each];
}
