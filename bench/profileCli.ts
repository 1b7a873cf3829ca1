// npm run profile -- --model <gguf> [--out <file>] [--force] [--method attention|ablation]
//   [--prompts n] [--tokens n] [--seed s] [--context n] [--validation-prompts n] [--sinks n] [--window n] [--chart <png>]
// npm run profile -- --model <gguf> --duo <full_attention_heads.tsv> [--budget f] [--out <file>]
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readGgufFileInfo } from 'node-llama-cpp';
import { HELP_OPTION, helpText, usageLine, type CliSpec } from '../common/cliHelp.ts';
import { HeadroomError } from '../common/errors.ts';
import { attentionOf } from '../common/modelShape.ts';
import { heatmapSvg } from '../common/charts.ts';
import { rankHeads, type HeadProfile, type ProfileMethod } from '../common/kv/policy.ts';
import { modelSha256, profilePathFor, writeProfile } from '../engine/kv/profiles.ts';
import { parseDuoTsv, profileFromDuo } from '../engine/profiler/duoAttention.ts';
import { DEFAULTS } from '../engine/profiler/headProfiler.ts';
import { profileModel } from '../engine/profiler/profileModel.ts';
import { runCli } from './cliArgs.ts';
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


const SPEC = {
    command: 'npm run profile',
    summary: 'Measures which KV heads a model needs whole (or imports DuoAttention\'s pattern) and stores the head profile by the model file\'s sha256, where the app finds it.',
    options: {
        model: { type: 'string', value: '<gguf>', help: 'the model', required: true },
        out: { type: 'string', value: '<file>', help: 'write the profile here as well' },
        chart: { type: 'string', value: '<png>', help: 'draw the scores as a layers × KV heads heatmap' },
        force: { type: 'boolean', default: false, help: 'measure again even when a profile is stored' },
        duo: { type: 'string', value: '<full_attention_heads.tsv>', help: 'import DuoAttention\'s pattern instead of measuring' },
        budget: { type: 'string', value: '<fraction>', help: 'with --duo: the budget it recommends' },
        method: { type: 'string', default: DEFAULTS.method, value: 'attention|ablation', help: 'how heads are scored' },
        prompts: { type: 'string', default: String(DEFAULTS.prompts), value: '<n>', help: 'scoring prompts' },
        tokens: { type: 'string', default: String(DEFAULTS.tokens), value: '<n>', help: 'tokens per prompt' },
        seed: { type: 'string', default: String(DEFAULTS.seed), value: '<n>', help: 'the random seed' },
        context: { type: 'string', value: '<tokens>', help: 'the context size', defaultText: 'what the prompts need' },
        'validation-prompts': { type: 'string', default: String(DEFAULTS.validationPrompts), value: '<n>', help: 'held-out prompts a plan must keep quality on' },
        sinks: { type: 'string', default: String(DEFAULTS.sinks), value: '<n>', help: 'first tokens every compressed head keeps' },
        window: { type: 'string', default: String(DEFAULTS.window), value: '<n>', help: 'recent tokens every compressed head keeps' },
        help: HELP_OPTION,
    },
} as const satisfies CliSpec;

runCli(async () => {
    const { values } = parseArgs({ options: SPEC.options });
    if (values.help === true) return void process.stdout.write(helpText(SPEC));
    if (values.model == null) throw new HeadroomError('BAD_REQUEST', usageLine(SPEC));
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

    const method = values.method;
    if (method !== 'attention' && method !== 'ablation') throw new HeadroomError('BAD_REQUEST', `--method is attention (one pass per prompt) or ablation (leave-one-out, one pass per head), not "${method}".`);
    const [prompts, tokens, seed, sinks, window, validationPrompts] = [values.prompts, values.tokens, values.seed, values.sinks, values.window, values['validation-prompts']].map(Number);
    const contextTokens = values.context == null ? undefined : Number(values.context);
    const { profile, reused, run } = await profileModel({
        modelPath, out: outPath, force: values.force, method: method satisfies ProfileMethod, prompts, tokens, seed, sinks, window, validationPrompts,
        ...(contextTokens != null ? { contextTokens } : {}), log,
    });
    if (reused) {
        log('(--force measures again)');
        return finish(profile);
    }
    const top = rankHeads(profile.scores).slice(0, 4).map((h) => `L${h.layer}H${h.head} ${h.score.toFixed(2)}`).join(', ');
    log(`top heads: ${top}; recommended budget ${profile.recommendedBudget}`);
    if (run != null) log(`scoring ${run.seconds.scoring.toFixed(1)} s, validation ${run.seconds.validation.toFixed(1)} s`);
    await finish(profile);
});
