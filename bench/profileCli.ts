// npm run profile -- --model <gguf> [--out <file>] [--force] [--method streaming|eviction]
//   [--prompts n] [--tokens n] [--seed s] [--sinks n] [--window n]
// npm run profile -- --model <gguf> --duo <full_attention_heads.tsv> [--budget f] [--out <file>]
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readGgufFileInfo } from 'node-llama-cpp';
import { HeadroomError } from '../common/errors.ts';
import { attentionOf } from '../common/modelShape.ts';
import { rankHeads, type HeadProfile } from '../common/kv/policy.ts';
import { modelSha256, profilePathFor, writeProfile } from '../engine/kv/profiles.ts';
import { parseDuoTsv, profileFromDuo } from '../engine/profiler/duoAttention.ts';
import { DEFAULT_BUDGETS, type AblationMethod } from '../engine/profiler/headProfiler.ts';
import { profileModel } from '../engine/profiler/profileModel.ts';
import { heatmapSvg } from './charts.ts';
import { parseNumberList, runCli } from './cliArgs.ts';
import { svgToPng } from './svgPng.ts';

/** The profile as a layers × KV heads grid, colored by score relative to the best head. */
function profileHeatmapSvg(profile: HeadProfile, modelName: string): string {
    const max = Math.max(...profile.scores.flat(), 1e-9);
    return heatmapSvg({
        title: `Head profile: ${modelName} (${profile.source}, recommended budget ${profile.recommendedBudget})`,
        columns: Array.from({ length: profile.kvHeads }, (_, head) => String(head)),
        rows: profile.scores.map((_, layer) => String(layer)),
        cells: profile.scores.map((row) => row.map((score) => Math.max(0, score) / max)),
        labels: profile.scores.map((row) => row.map((score) => score.toFixed(2))),
        legend: { title: 'score', high: max.toFixed(2), low: '0' },
        palette: 'intensity',
        xLabel: 'KV head',
        yLabel: 'layer',
    });
}


runCli(async () => {
    const { values } = parseArgs({
        options: {
            model: { type: 'string' },
            out: { type: 'string' },
            chart: { type: 'string' },
            force: { type: 'boolean', default: false },
            duo: { type: 'string' },
            budget: { type: 'string' },
            method: { type: 'string' },
            prompts: { type: 'string', default: '8' },
            tokens: { type: 'string', default: '1024' },
            seed: { type: 'string', default: '1' },
            sinks: { type: 'string', default: '4' },
            window: { type: 'string', default: '64' },
            budgets: { type: 'string', default: DEFAULT_BUDGETS.join(',') },
        },
    });
    if (values.model == null) throw new HeadroomError('BAD_REQUEST', 'usage: npm run profile -- --model <gguf> [--out <file>] [--duo <file.tsv>] [--method eviction|streaming] [--force]');
    const modelPath = values.model;
    const log = (line: string) => process.stderr.write(`${line}\n`);
    // --chart <png>: the profile's scores as a layers × KV heads heatmap.
    const finish = async (profile: HeadProfile) => {
        if (values.chart != null) {
            await mkdir(path.dirname(path.resolve(values.chart)), { recursive: true });
            await writeFile(values.chart, svgToPng(profileHeatmapSvg(profile, path.basename(modelPath))));
        }
        process.stdout.write(`${outPath}\n`);
    };
    log(`hashing ${modelPath}…`);
    const sha256 = await modelSha256(modelPath);
    const outPath = values.out ?? profilePathFor(sha256);

    if (values.duo != null) {
        const shape = attentionOf((await readGgufFileInfo(modelPath)).architectureMetadata);
        const tsv = await readFile(values.duo, 'utf8').catch(() => { throw new HeadroomError('NOT_FOUND', `No DuoAttention pattern file at ${values.duo}.`); });
        const budget = values.budget == null ? undefined : Number(values.budget);
        if (budget != null && !(budget > 0 && budget <= 1)) throw new HeadroomError('BAD_REQUEST', '--budget must be a fraction in (0, 1].');
        const profile = profileFromDuo(parseDuoTsv(tsv), { sha256, layers: shape.layers, kvHeads: shape.kvHeads }, { budget });
        await writeProfile(profile, outPath);
        return finish(profile);
    }

    const method = values.method as AblationMethod | undefined;
    const [prompts, tokens, seed, sinks, window] = [values.prompts, values.tokens, values.seed, values.sinks, values.window].map(Number);
    const { profile, reused } = await profileModel({
        modelPath, out: outPath, force: values.force, method, prompts, tokens, seed, sinks, window,
        budgets: parseNumberList(values.budgets, 'budgets'), log,
    });
    if (reused) {
        log('(--force measures again)');
        return finish(profile);
    }
    const top = rankHeads(profile.scores).slice(0, 4).map((h) => `L${h.layer}H${h.head} ${h.score.toFixed(2)}`).join(', ');
    log(`top heads: ${top}; recommended budget ${profile.recommendedBudget}`);
    await finish(profile);
});
