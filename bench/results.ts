// The JSON files the measurement CLIs write, as zod schemas (other tools read them), and the one
// way a run is written: its JSON and its chart side by side. niah's results are common/niah.ts's
// (the app's Test recall shows the same).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { KvCacheType } from '../common/modelShape.ts';
import { DeviceBytes } from '../common/devices.ts';
import { KvBuffer } from '../common/kv/usage.ts';
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
    prefillTokPerSec: z.number().positive(),
    decodeTokPerSec: z.number().positive(),
});
export type KvBenchRun = z.infer<typeof KvBenchRun>;

export const KvBenchResult = z.object({
    model: z.string(),
    device: z.string(),
    runs: z.array(KvBenchRun),
    /** Modes asked for that this build cannot run, and why. */
    skipped: z.array(z.object({ mode: z.string(), kvType: KvCacheType.default('f16'), budget: z.number(), contextTokens: z.number().int(), reason: z.string() })),
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
