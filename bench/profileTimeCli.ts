// node bench/profileTimeCli.ts --model <gguf> [--model <gguf> …] --out <dir> [--prompts 2] [--tokens 1024] [--ablation-heads all,4] [--threads n]
// --ablation-heads: how many heads leave-one-out measures (all, or a sample extrapolated to every
// head), one value for every model or one per --model, comma-separated.
import { parseArgs } from 'node:util';
import { HELP_OPTION, helpText, usageLine, type CliSpec } from '../common/cliHelp.ts';
import { HeadroomError } from '../common/errors.ts';
import { runCli } from './cliArgs.ts';
import { runProfileTime } from './profileTime.ts';

const SPEC = {
    command: 'node bench/profileTimeCli.ts',
    summary: 'Times profiling by attention against leave-one-out ablation on each model; writes profile-time.json and a chart.',
    options: {
        model: { type: 'string', multiple: true, value: '<gguf>', help: 'a model', required: true },
        out: { type: 'string', value: '<dir>', help: 'where the results go', required: true },
        prompts: { type: 'string', default: '2', value: '<n>', help: 'scoring prompts' },
        tokens: { type: 'string', default: '1024', value: '<n>', help: 'tokens per prompt' },
        'ablation-heads': { type: 'string', default: 'all', value: '<all|n,…>', help: 'heads ablation measures (a sample is extrapolated to every head), one for every model or one per model' },
        threads: { type: 'string', value: '<n>', help: 'CPU threads', defaultText: 'automatic' },
        help: HELP_OPTION,
    },
} as const satisfies CliSpec;

runCli(async () => {
    const { values } = parseArgs({ options: SPEC.options });
    if (values.help === true) return void process.stdout.write(helpText(SPEC));
    const models = values.model ?? [];
    if (models.length === 0 || values.out == null) throw new HeadroomError('BAD_REQUEST', usageLine(SPEC));
    const prompts = Number(values.prompts);
    const tokens = Number(values.tokens);
    const samples = values['ablation-heads'].split(',').map((n) => (n.trim() === 'all' ? 'all' as const : Number(n)));
    const threads = values.threads == null ? undefined : Number(values.threads);
    if (![prompts, tokens].every((n) => Number.isInteger(n) && n >= 1) || samples.some((n) => n !== 'all' && !(Number.isInteger(n) && n >= 1))
        || (samples.length !== 1 && samples.length !== models.length) || (threads != null && !(Number.isInteger(threads) && threads >= 1))) {
        throw new HeadroomError('BAD_REQUEST', '--prompts, --tokens and --threads must be whole numbers ≥ 1; --ablation-heads one count (or all) for every model, or one per model.');
    }
    const { result, json, png } = await runProfileTime(models, {
        prompts, tokens, samples, ...(threads != null ? { threads } : {}), out: values.out, log: (line) => process.stderr.write(`${line}\n`),
    });
    for (const run of result.runs) {
        process.stdout.write(`${run.model}: attention ${run.attention.seconds.toFixed(1)} s, ablation ${run.ablation.allHeadsSeconds.toFixed(0)} s${run.ablation.extrapolated ? ` (${run.ablation.measuredHeads} heads measured, extrapolated)` : ''}: ${run.speedup.toFixed(1)}×\n`);
    }
    process.stdout.write(`${json}\n${png}\n`);
});
