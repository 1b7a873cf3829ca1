// node bench/profileTimeCli.ts --model <gguf> [--model <gguf> …] --out <dir> [--prompts 2] [--tokens 1024] [--ablation-heads all,4] [--threads n]
// --ablation-heads: how many heads leave-one-out measures (all, or a sample extrapolated to every
// head), one value for every model or one per --model, comma-separated.
import { parseArgs } from 'node:util';
import { HeadroomError } from '../common/errors.ts';
import { runCli } from './cliArgs.ts';
import { runProfileTime } from './profileTime.ts';

runCli(async () => {
    const { values } = parseArgs({
        options: {
            model: { type: 'string', multiple: true },
            out: { type: 'string' },
            prompts: { type: 'string', default: '2' },
            tokens: { type: 'string', default: '1024' },
            'ablation-heads': { type: 'string', default: 'all' },
            threads: { type: 'string' },
        },
    });
    const models = values.model ?? [];
    if (models.length === 0 || values.out == null) throw new HeadroomError('BAD_REQUEST', 'usage: node bench/profileTimeCli.ts --model <gguf> [--model <gguf>] --out <dir> [--prompts 2] [--tokens 1024] [--ablation-heads all,4] [--threads n]');
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
