// npm run bench:kv -- --model <gguf> --lengths 1024,2048 --out <dir>
//   [--kv off,budget:0.5,0.25] [--kv-types f16,q8_0,q4_0] [--offload gpu|cpu|auto] [--decode n] [--repeats n] [--threads n] [--profile <json>]
// --kv takes one `--kv` value of the other CLIs, or several separated by commas, and --kv-types
// (or --kv-type) one cache type or several: every mode is measured at every type.
import { parseArgs } from 'node:util';
import { HeadroomError } from '../common/errors.ts';
import { formatKvFlag, parseKvFlag, parseKvTypeFlag } from '../common/kv/flag.ts';
import { findProfile } from '../engine/kv/profiles.ts';
import { parseNumberList, runCli } from './cliArgs.ts';
import { DEFAULT_BENCH_MODES, runKvBench, writeKvBenchOutputs } from './kvBench.ts';

runCli(async () => {
    const { values } = parseArgs({
        options: {
            model: { type: 'string' },
            lengths: { type: 'string', default: '1024,2048' },
            kv: { type: 'string', default: DEFAULT_BENCH_MODES.map(formatKvFlag).join(',') },
            'kv-types': { type: 'string' },
            'kv-type': { type: 'string' },
            decode: { type: 'string', default: '64' },
            threads: { type: 'string' },
            offload: { type: 'string', default: 'auto' },
            repeats: { type: 'string', default: '3' },
            profile: { type: 'string' },
            out: { type: 'string' },
        },
    });
    if (values.model == null || values.out == null) throw new HeadroomError('BAD_REQUEST', 'usage: npm run bench:kv -- --model <gguf> --lengths 1024,2048 --out <dir> [--kv off,budget:0.5,0.25] [--kv-types f16,q8_0,q4_0]');
    const lengths = parseNumberList(values.lengths, 'lengths');
    if (lengths.some((n) => !Number.isInteger(n) || n < 16)) throw new HeadroomError('BAD_REQUEST', '--lengths must be whole token counts of at least 16.');
    const modes = values.kv.split(',').map((m) => parseKvFlag(m.trim(), values.offload));
    const kvTypes = (values['kv-types'] ?? values['kv-type'] ?? 'f16').split(',').map((t) => parseKvTypeFlag(t.trim()));
    const decodeTokens = Number(values.decode);
    const repeats = Number(values.repeats);
    const threads = values.threads == null ? undefined : Number(values.threads);
    if (!Number.isInteger(decodeTokens) || decodeTokens < 1 || !Number.isInteger(repeats) || repeats < 1 || (threads != null && !(Number.isInteger(threads) && threads >= 1))) {
        throw new HeadroomError('BAD_REQUEST', '--decode, --repeats and --threads must be whole numbers ≥ 1.');
    }
    // A profile only matters to compressed modes; without one the engine's fallback order picks the heads.
    const profile = modes.every((m) => m.mode === 'off') ? null : await findProfile(values.model, { explicit: values.profile });
    const result = await runKvBench({
        modelPath: values.model, lengths, modes, kvTypes, profile, decodeTokens, repeats, threads,
        log: (line) => process.stderr.write(`${line}\n`),
    });
    const { json, png } = await writeKvBenchOutputs(result, values.out);
    process.stdout.write(`${result.runs.length} runs, ${result.skipped.length} skipped (${[...new Set(result.skipped.map((s) => s.mode))].join(', ') || 'none'}) on ${result.device}\n${json}\n${png}\n`);
});
