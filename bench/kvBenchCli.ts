// npm run bench:kv -- --model <gguf> --lengths 1024,2048 --out <dir>
//   [--kv off,budget:0.5,0.25] [--layout found|fallback|duo:<id or tsv>|profile:<json>,…] [--offload gpu,cpu|auto]
//   [--kv-types f16,q8_0,q4_0] [--decode n] [--repeats n] [--threads n]
// --kv takes one `--kv` value of the other CLIs, or several separated by commas; every compressed
// mode is measured with every --layout (bench/layouts.ts) and every --offload placement, and every
// mode at every --kv-types (or --kv-type) cache type. --repeats rounds, each side once per round in
// alternating order, after an untimed warm-up of each.
import { parseArgs } from 'node:util';
import { HeadroomError } from '../common/errors.ts';
import { commandLine, HELP_OPTION, helpText, usageLine, type CliSpec } from '../common/cliHelp.ts';
import { formatKvFlag, parseKvFlag, parseKvTypeFlag } from '../common/kv/flag.ts';
import { KvOffload } from '../common/kv/policy.ts';
import { parseNumberList, runCli } from './cliArgs.ts';
import { DEFAULT_BENCH_MODES, runKvBench, writeKvBenchOutputs } from './kvBench.ts';
import { LAYOUT_USAGE, parseLayouts } from './layouts.ts';

const SPEC = {
    command: 'npm run bench:kv',
    summary: 'Measures KV bytes by device and prefill and decode speed for each cache mode, layout, placement and cache type at each length; writes kv-bench.json and kv-bench.png.',
    options: {
        model: { type: 'string', value: '<gguf>', help: 'the model', required: true },
        out: { type: 'string', value: '<dir>', help: 'where the results go', required: true },
        lengths: { type: 'string', default: '1024,2048', value: '<tokens,…>', help: 'context lengths' },
        kv: { type: 'string', default: DEFAULT_BENCH_MODES.map(formatKvFlag).join(','), value: '<mode,…>', help: 'cache modes, each as --kv takes it elsewhere' },
        layout: { type: 'string', default: 'found', value: LAYOUT_USAGE.replace(/^--layout /, ''), help: 'which heads stay full in each compressed mode' },
        'kv-types': { type: 'string', value: '<type,…>', help: 'cache number formats: f16, q8_0, q4_0', defaultText: 'f16' },
        'kv-type': { type: 'string', value: '<type>', help: 'one cache number format (as --kv-types)' },
        decode: { type: 'string', default: '64', value: '<n>', help: 'tokens decoded per run' },
        threads: { type: 'string', value: '<n>', help: 'CPU threads', defaultText: 'automatic' },
        offload: { type: 'string', default: 'auto', value: '<gpu|cpu|auto,…>', help: 'where the full heads\' cache lives' },
        repeats: { type: 'string', default: '3', value: '<n>', help: 'timed rounds, each side once per round in alternating order' },
        help: HELP_OPTION,
    },
} as const satisfies CliSpec;

runCli(async () => {
    const { values } = parseArgs({ options: SPEC.options });
    if (values.help === true) return void process.stdout.write(helpText(SPEC));
    if (values.model == null || values.out == null) throw new HeadroomError('BAD_REQUEST', usageLine(SPEC));
    const lengths = parseNumberList(values.lengths, 'lengths');
    if (lengths.some((n) => !Number.isInteger(n) || n < 16)) throw new HeadroomError('BAD_REQUEST', '--lengths must be whole token counts of at least 16.');
    const offloads = values.offload.split(',').map((o) => {
        const placement = KvOffload.safeParse(o.trim());
        if (!placement.success) throw new HeadroomError('BAD_REQUEST', `--offload takes gpu, cpu or auto, comma-separated, not "${o}".`);
        return placement.data;
    });
    const modes = values.kv.split(',').map((m) => parseKvFlag(m.trim()));
    const layouts = parseLayouts(values.layout);
    const kvTypes = (values['kv-types'] ?? values['kv-type'] ?? 'f16').split(',').map((t) => parseKvTypeFlag(t.trim()));
    const decodeTokens = Number(values.decode);
    const repeats = Number(values.repeats);
    const threads = values.threads == null ? undefined : Number(values.threads);
    if (!Number.isInteger(decodeTokens) || decodeTokens < 1 || !Number.isInteger(repeats) || repeats < 1 || (threads != null && !(Number.isInteger(threads) && threads >= 1))) {
        throw new HeadroomError('BAD_REQUEST', '--decode, --repeats and --threads must be whole numbers ≥ 1.');
    }
    const result = await runKvBench({
        modelPath: values.model, lengths, modes, layouts, offloads, kvTypes, decodeTokens, repeats, threads,
        log: (line) => process.stderr.write(`${line}\n`),
    });
    const { json, png } = await writeKvBenchOutputs({ ...result, command: commandLine(SPEC.command, process.argv.slice(2)) }, values.out);
    process.stdout.write(`${result.runs.length} runs, ${result.skipped.length} skipped (${[...new Set(result.skipped.map((s) => s.mode))].join(', ') || 'none'}) on ${result.device}\n${json}\n${png}\n`);
});
