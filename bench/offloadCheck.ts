// The planner's stated cost of full heads in CPU RAM against what bench:kv measured on the same
// machine: for each budget the bench ran with the full heads in RAM ([cpu]) and on the GPU ([gpu]),
// the plan the app would show before loading (planMemory: bytes crossing per token, decode both ways)
// next to the measured decode and patch 0005's copy counter. Run it where the bench ran (the rates
// depend on the device: a CPU-backed Vulkan device is llvmpipe's measured rates, a real GPU assumed ones).
//   node bench/offloadCheck.ts --bench <kv-bench.json> --model <gguf> --out <dir>
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { HELP_OPTION, helpText, usageLine, type CliSpec } from '../common/cliHelp.ts';
import { HeadroomError } from '../common/errors.ts';
import { parseKvFlag } from '../common/kv/flag.ts';
import { decodeRatesFor, decodeSeconds, planMemory } from '../engine/planner.ts';
import { runtime } from '../engine/runtime.ts';
import { groupedBarsSvg } from './charts.ts';
import { runCli } from './cliArgs.ts';
import { WARMUP } from './kvBench.ts';
import { KvBenchResult, writeRun } from './results.ts';

export const OffloadCheck = z.object({
    model: z.string(),
    device: z.string(),
    bench: z.string(),
    rows: z.array(z.object({
        contextTokens: z.number().int(),
        mode: z.string(),
        layout: z.string().nullable(),
        /** What the planner shows before the load. */
        predicted: z.object({ crossingBytesPerToken: z.number(), decodeCpu: z.number(), decodeGpu: z.number(), summary: z.string() }),
        /** What bench:kv measured (decode medians; the copy counter's bytes per decoded token with the full heads in RAM). */
        measured: z.object({ crossingBytesPerToken: z.number().nullable(), decodeCpu: z.number().nullable(), decodeGpu: z.number().nullable() }),
        /** predicted / measured − 1 for decode with the full heads in RAM. */
        cpuError: z.number().nullable(),
        gpuError: z.number().nullable(),
    })),
    /** The stock cache's decode, predicted by the same rates (no crossing), against measured. */
    stock: z.array(z.object({ contextTokens: z.number().int(), predicted: z.number(), measured: z.number(), error: z.number() })),
    source: z.string(),
    createdAt: z.string(),
});
export type OffloadCheck = z.infer<typeof OffloadCheck>;

const SPEC = {
    command: 'node bench/offloadCheck.ts',
    summary: 'Sets the planner\'s stated cost of full heads in CPU RAM (bytes crossing, decode in RAM and on the GPU) beside what a bench:kv run measured on the same device; writes offload-check.json and offload-check.png.',
    options: {
        bench: { type: 'string', value: '<kv-bench.json>', help: 'a bench:kv result with offload cpu and gpu runs', required: true },
        model: { type: 'string', value: '<gguf>', help: 'the model that run measured', required: true },
        out: { type: 'string', value: '<dir>', help: 'where the result goes', required: true },
        help: HELP_OPTION,
    },
} as const satisfies CliSpec;

runCli(async () => {
    const { values } = parseArgs({ options: SPEC.options });
    if (values.help === true) return void process.stdout.write(helpText(SPEC));
    if (values.bench == null || values.model == null || values.out == null) throw new HeadroomError('BAD_REQUEST', usageLine(SPEC));
    const bench = KvBenchResult.parse(JSON.parse(await readFile(values.bench, 'utf8')));
    const { llama } = await runtime.get();
    const decodeTokens = bench.method?.decodeTokens ?? 16;
    const rows: OffloadCheck['rows'] = [];
    const stock: OffloadCheck['stock'] = [];
    let source = '';
    for (const length of [...new Set(bench.runs.map((r) => r.contextTokens))]) {
        const contextSize = length + decodeTokens + WARMUP.decodeTokens;
        const runs = bench.runs.filter((r) => r.contextTokens === length);
        for (const mode of [...new Set(runs.filter((r) => r.mode !== 'off').map((r) => `${r.mode}|${r.layout ?? ''}`))]) {
            const [label = '', layout = ''] = mode.split('|');
            if (layout !== 'fallback' && layout !== 'found') continue; // the planner plans with the profile a load finds
            const kv = parseKvFlag(label.replace(/^budget /, ''), 'cpu');
            const plan = await planMemory(llama, { path: values.model, contextSize, kv });
            const cost = plan.offload?.cost;
            if (cost == null) throw new HeadroomError('NOT_AVAILABLE', `The plan has no offload cost (${plan.offload?.note ?? 'no head plan'}): run this where a GPU backend is in use.`);
            source = cost.source;
            const measured = (placement: 'cpu' | 'gpu') => runs.find((r) => r.mode === label && (r.layout ?? '') === layout && r.fullPlacement === placement);
            const inRam = measured('cpu');
            const onGpu = measured('gpu');
            const error = (p: number, m: number | undefined) => (m == null ? null : p / m - 1);
            rows.push({
                contextTokens: length, mode: label, layout,
                predicted: { crossingBytesPerToken: cost.crossingBytesPerToken, decodeCpu: cost.decodeTokPerSec.cpu, decodeGpu: cost.decodeTokPerSec.gpu, summary: cost.summary },
                measured: { crossingBytesPerToken: inRam?.copyBytesPerToken?.decode ?? null, decodeCpu: inRam?.decodeTokPerSec ?? null, decodeGpu: onGpu?.decodeTokPerSec ?? null },
                cpuError: error(cost.decodeTokPerSec.cpu, inRam?.decodeTokPerSec),
                gpuError: error(cost.decodeTokPerSec.gpu, onGpu?.decodeTokPerSec),
            });
        }
        const off = runs.find((r) => r.mode === 'off');
        if (off != null) {
            const plan = await planMemory(llama, { path: values.model, contextSize, kv: parseKvFlag('off') });
            const rates = decodeRatesFor(plan.machine, llama.cpuMathCores);
            const predicted = 1 / decodeSeconds(plan.predicted.weights, plan.predicted.kvBytes, rates, null);
            stock.push({ contextTokens: length, predicted, measured: off.decodeTokPerSec, error: predicted / off.decodeTokPerSec - 1 });
        }
    }
    const result = OffloadCheck.parse({ model: path.basename(values.model), device: bench.device, bench: values.bench, rows, stock, source, createdAt: new Date().toISOString() });
    const keys = rows.map((r) => `${r.contextTokens} ${r.mode}`);
    const svg = groupedBarsSvg({
        title: `Full heads in CPU RAM: the planner's estimate against bench:kv (${result.model}, ${bench.device})`,
        groups: keys, groupLabel: 'context length and budget',
        series: ['shown (planner)', 'measured (bench:kv)'],
        panels: [
            { title: 'Decode, full heads in CPU RAM', yLabel: 'tokens / s', values: [rows.map((r) => r.predicted.decodeCpu), rows.map((r) => r.measured.decodeCpu)] },
            { title: 'Decode, full heads on the GPU', yLabel: 'tokens / s', values: [rows.map((r) => r.predicted.decodeGpu), rows.map((r) => r.measured.decodeGpu)] },
            { title: 'Bytes crossing per token', yLabel: 'KB', values: [rows.map((r) => r.predicted.crossingBytesPerToken / 1000), rows.map((r) => (r.measured.crossingBytesPerToken ?? 0) / 1000)] },
        ],
    });
    const { json, png } = await writeRun(values.out, 'offload-check', result, svg);
    for (const r of rows) {
        const pct = (e: number | null) => (e == null ? 'n/a' : `${e >= 0 ? '+' : ''}${(e * 100).toFixed(0)} %`);
        process.stdout.write(`${r.contextTokens} ${r.mode} ${r.layout}: shown ${r.predicted.decodeCpu.toFixed(2)} tok/s in RAM (measured ${r.measured.decodeCpu?.toFixed(2) ?? 'n/a'}, ${pct(r.cpuError)}), `
            + `${r.predicted.decodeGpu.toFixed(2)} on the GPU (measured ${r.measured.decodeGpu?.toFixed(2) ?? 'n/a'}, ${pct(r.gpuError)}); crossing ${r.predicted.crossingBytesPerToken} B/token (counted ${r.measured.crossingBytesPerToken ?? 'n/a'})\n`);
    }
    for (const s of stock) process.stdout.write(`${s.contextTokens} stock: ${s.predicted.toFixed(2)} tok/s estimated, ${s.measured.toFixed(2)} measured (${(s.error * 100).toFixed(0)} %)\n`);
    process.stdout.write(`${json}\n${png}\n`);
});
