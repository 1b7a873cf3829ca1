// npm run niah -- --model <gguf> --lengths 512,1024,2048 --depths 0,0.25,0.5,0.75,1
//   [--trials n] [--seed s] [--kv off|auto|0.25|budget:0.25] [--profile <json>] [--heads top|lowest] --out <dir>
import { parseArgs } from 'node:util';
import { HeadroomError } from '../common/errors.ts';
import { HELP_OPTION, helpText, KV_OPTION, KV_TYPE_OPTION, usageLine, type CliSpec } from '../common/cliHelp.ts';
import { parseKvFlag, parseKvTypeFlag } from '../common/kv/flag.ts';
import { requireProfile } from '../engine/kv/profiles.ts';
import { parseNumberList, runCli } from './cliArgs.ts';
import { runNiah } from '../engine/niah.ts';
import { writeNiahOutputs } from './niah.ts';

const SPEC = {
    command: 'npm run niah',
    summary: 'Needle in a haystack: hides a fact at each depth of documents of each length, asks for it, and writes the accuracy as niah.json and a heatmap.',
    options: {
        model: { type: 'string', value: '<gguf>', help: 'the model', required: true },
        out: { type: 'string', value: '<dir>', help: 'where the results go', required: true },
        lengths: { type: 'string', default: '512,1024,2048', value: '<tokens,…>', help: 'document lengths' },
        depths: { type: 'string', default: '0,0.25,0.5,0.75,1', value: '<fractions,…>', help: 'where the fact is hidden, from the start (0) to the end (1)' },
        trials: { type: 'string', default: '1', value: '<n>', help: 'trials at each length and depth' },
        seed: { type: 'string', default: '1', value: '<n>', help: 'the random seed' },
        kv: KV_OPTION,
        'kv-type': KV_TYPE_OPTION,
        profile: { type: 'string', value: '<json>', help: 'the head profile to plan with', defaultText: 'the model\'s stored or shipped one' },
        heads: { type: 'string', default: 'top', value: 'top|lowest', help: 'which heads keep every token: the profile\'s best, or its worst (a control)' },
        help: HELP_OPTION,
    },
} as const satisfies CliSpec;

runCli(async () => {
    const { values } = parseArgs({ options: SPEC.options });
    if (values.help === true) return void process.stdout.write(helpText(SPEC));
    if (values.model == null || values.out == null) throw new HeadroomError('BAD_REQUEST', usageLine(SPEC));
    const lengths = parseNumberList(values.lengths, 'lengths');
    const depths = parseNumberList(values.depths, 'depths');
    if (lengths.some((n) => !Number.isInteger(n) || n < 64)) throw new HeadroomError('BAD_REQUEST', '--lengths must be whole token counts of at least 64.');
    if (depths.some((d) => d < 0 || d > 1)) throw new HeadroomError('BAD_REQUEST', '--depths must be fractions between 0 and 1.');
    const trials = Number(values.trials);
    const seed = Number(values.seed);
    if (!Number.isInteger(trials) || trials < 1 || !Number.isInteger(seed)) throw new HeadroomError('BAD_REQUEST', '--trials and --seed must be whole numbers (trials ≥ 1).');
    const kv = parseKvFlag(values.kv);
    const kvCacheType = parseKvTypeFlag(values['kv-type']);
    const heads = values.heads;
    if (heads !== 'top' && heads !== 'lowest') throw new HeadroomError('BAD_REQUEST', '--heads is top (the profile\'s best heads keep every token) or lowest (its worst: a control).');
    const profile = kv.mode === 'off' ? null : await requireProfile(values.model, values.profile);
    const result = await runNiah({
        modelPath: values.model, lengths, depths, trials, seed, kv, kvCacheType, profile, heads,
        onTrial(trial, done, total) {
            process.stderr.write(`[${done}/${total}] ${trial.contextTokens} tokens, depth ${trial.depth}: ${trial.correct ? 'right' : 'wrong'} (${JSON.stringify(trial.answer.slice(0, 60))})\n`);
        },
    });
    const { json, png } = await writeNiahOutputs(result, values.out);
    process.stdout.write(`accuracy ${(result.accuracy * 100).toFixed(1)}% over ${result.trials.length} trials\n${json}\n${png}\n`);
});
