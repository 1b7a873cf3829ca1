// The JSON files the measurement CLIs write, as zod schemas (other tools read them), and the one
// way a run is written: its JSON and its chart side by side. niah's results are common/niah.ts's
// (the app's Test recall shows the same).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { KvCacheType } from '../common/modelShape.ts';
import { DeviceBytes } from '../common/devices.ts';
import { KvBuffer } from '../common/kv/usage.ts';
import { Spread } from './method.ts';
import { svgToPng } from './svgPng.ts';

export const KvBenchRun = z.object({
    mode: z.string(),
    /** The K and V cache type (older results, from before quantized runs: f16). */
    kvType: KvCacheType.default('f16'),
    /** Fraction of the stock cache's bytes; 1 for the stock cache. */
    budget: z.number().gt(0).max(1),
    contextTokens: z.number().int().positive(),
    /** What llama.cpp allocated (its KV buffer log lines), per device. */
    kvBytes: DeviceBytes,
    /** policy.ts's kvBytes() for the same shape and plan, alongside. */
    kvBytesFormula: DeviceBytes,
    /** The buffers llama.cpp logged; cells is null for the stock cache's size lines. */
    kvBuffers: z.array(KvBuffer.extend({ cells: z.number().int().nullable() })),
    /** Heads kept full by the plan, of all KV heads (all of them for the stock cache). */
    fullHeads: z.number().int().nonnegative(),
    totalHeads: z.number().int().positive(),
    /** Whose ranking picked the full heads: the model's profile, or the engine's fallback order (no profile). */
    headOrder: z.enum(['profile', 'fallback']).nullable(),
    /** The medians of `prefill` and `decode` (older results: one run, or the median of runs in a row). */
    prefillTokPerSec: z.number().positive(),
    decodeTokPerSec: z.number().positive(),
    /** Which heads were kept full: found, fallback, duo:<pattern>, profile:<file> (bench/layouts.ts); null for the stock cache. */
    layout: z.string().nullable().optional(),
    /** How the layout was fitted to the model (a slice of a deeper pattern), when it was. */
    layoutNote: z.string().nullable().optional(),
    /** Layers holding both full and streaming heads (0 for the stock cache). */
    mixedLayers: z.number().int().nonnegative().optional(),
    /** Where the full heads lived (the stock cache: with the compute). */
    fullPlacement: z.enum(['gpu', 'cpu']).optional(),
    /** Tokens per batch (llama.cpp's n_ubatch = n_batch): the engine's compressed batch, or 512 for the stock cache. */
    ubatch: z.number().int().positive().optional(),
    /** Prefill and decode tokens/s over the rounds: min, median, max and each round's sample. */
    prefill: Spread.optional(),
    decode: Spread.optional(),
    /** Tokens each round's decode generated (what its rate divides by). */
    decodeTokens: z.array(z.number().int().positive()).optional(),
    /** Bytes the scheduler copied between backends (patch 0005's counter), per prefilled and per decoded token; 0 with one backend. */
    copyBytesPerToken: z.object({ prefill: z.number().nonnegative(), decode: z.number().nonnegative() }).nullable().optional(),
});
export type KvBenchRun = z.infer<typeof KvBenchRun>;

export const KvBenchResult = z.object({
    model: z.string(),
    device: z.string(),
    runs: z.array(KvBenchRun),
    /** Modes asked for that this build cannot run, and why. */
    skipped: z.array(z.object({ mode: z.string(), kvType: KvCacheType.default('f16'), budget: z.number(), contextTokens: z.number().int(), reason: z.string(), layout: z.string().nullable().optional() })),
    /** How it was timed: rounds, each side once per round in alternating order, after an untimed warm-up of each side. */
    method: z.object({
        rounds: z.number().int().positive(),
        decodeTokens: z.number().int().positive(),
        warmup: z.string(),
        /** Each round's order of the sides, by their labels, per context length and cache type. */
        order: z.array(z.object({ contextTokens: z.number().int(), kvType: KvCacheType, rounds: z.array(z.array(z.string())) })),
    }).optional(),
    /** The command line that made it, as typed (older results have none: bench/results/README.md gives theirs). */
    command: z.string().optional(),
    createdAt: z.string(),
});
export type KvBenchResult = z.infer<typeof KvBenchResult>;

/** Writes a run as `<name>.json` and its chart as `<name>.png` into `outDir`. */
export async function writeRun(outDir: string, name: string, result: unknown, chartSvg: string): Promise<{ json: string; png: string }> {
    await mkdir(outDir, { recursive: true });
    const json = path.join(outDir, `${name}.json`);
    const png = path.join(outDir, `${name}.png`);
    await writeFile(json, `${JSON.stringify(result, null, 2)}\n`);
    await writeFile(png, svgToPng(chartSvg));
    return { json, png };
}
