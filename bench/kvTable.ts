// The tables of bench/results/README.md from kv-bench.json files: one row per run, each rate as
// median [min–max] over the rounds, its ratio to the stock cache of the same length and cache type,
// and the KV bytes (allocated; = planned where they agree) beside it.
//   node bench/kvTable.ts <kv-bench.json>…
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { HELP_OPTION, helpText, usageLine, type CliSpec } from '../common/cliHelp.ts';
import { HeadroomError } from '../common/errors.ts';
import { runLabel } from './kvBench.ts';
import { runCli } from './cliArgs.ts';
import { KvBenchResult, type KvBenchRun } from './results.ts';

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 2 : 1);
const rate = (value: number) => (value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));

/** "12.3 [11.9–12.8]": a rate's median and its spread over the rounds (the single value for older, one-run results). */
export function spreadText(run: KvBenchRun, which: 'prefill' | 'decode'): string {
    const s = run[which];
    const median = which === 'prefill' ? run.prefillTokPerSec : run.decodeTokPerSec;
    return s == null ? rate(median) : `${rate(s.median)} [${rate(s.min)}–${rate(s.max)}]`;
}

export function kvTableRows(result: KvBenchResult): string[][] {
    return result.runs.map((run) => {
        const stock = result.runs.find((r) => r.mode === 'off' && r.contextTokens === run.contextTokens && r.kvType === run.kvType);
        const stockF16 = result.runs.find((r) => r.mode === 'off' && r.contextTokens === run.contextTokens && r.kvType === 'f16');
        const kv = run.kvBytes.gpu + run.kvBytes.cpu;
        const formula = run.kvBytesFormula.gpu + run.kvBytesFormula.cpu;
        const ratio = (mine: number, theirs: number | undefined) => (run.mode === 'off' || theirs == null ? '' : ` (${(mine / theirs).toFixed(2)}×)`);
        return [
            run.contextTokens.toLocaleString('en-US'),
            `${run.kvType} ${runLabel(run)}`,
            run.mode === 'off' ? `${run.totalHeads}/${run.totalHeads}` : `${run.fullHeads}/${run.totalHeads}`,
            run.mixedLayers == null ? '?' : String(run.mixedLayers),
            `${mib(kv)} MiB${kv === formula ? '' : ` (formula ${mib(formula)})`}`,
            stockF16 == null ? '' : `${((100 * kv) / (stockF16.kvBytes.gpu + stockF16.kvBytes.cpu)).toFixed(1)} %`,
            `${spreadText(run, 'prefill')}${ratio(run.prefillTokPerSec, stock?.prefillTokPerSec)}`,
            `${spreadText(run, 'decode')}${ratio(run.decodeTokPerSec, stock?.decodeTokPerSec)}`,
        ];
    });
}

export const KV_TABLE_HEADER = ['tokens', 'cache', 'full heads', 'mixed layers', 'KV (allocated)', 'of f16 stock', 'prefill tok/s, median [min–max]', 'decode tok/s, median [min–max]'];

const SPEC = {
    command: 'node bench/kvTable.ts',
    summary: 'Prints the Markdown tables of bench/results/README.md from kv-bench.json files: one row per run, each rate as median [min–max] with its ratio to the stock cache, and the KV bytes.',
    positionals: '<kv-bench.json>…',
    options: {
        help: HELP_OPTION,
    },
} as const satisfies CliSpec;

if (process.argv[1] === new URL(import.meta.url).pathname) {
    runCli(async () => {
        const { values, positionals } = parseArgs({ allowPositionals: true, options: SPEC.options });
        if (values.help === true) return void process.stdout.write(helpText(SPEC));
        if (positionals.length === 0) throw new HeadroomError('BAD_REQUEST', usageLine(SPEC));
        for (const file of positionals) {
            const result = KvBenchResult.parse(JSON.parse(await readFile(file, 'utf8')));
            const rows = [KV_TABLE_HEADER, KV_TABLE_HEADER.map(() => '---'), ...kvTableRows(result)];
            process.stdout.write(`${file}: ${result.model} on ${result.device}${result.method != null ? `, ${result.method.rounds} rounds, ${result.method.decodeTokens} decoded tokens` : ''}\n`);
            process.stdout.write(`${rows.map((row) => `| ${row.join(' | ')} |`).join('\n')}\n\n`);
        }
    });
}
