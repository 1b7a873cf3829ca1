// The JSON files the measurement CLIs write, as zod schemas (other tools and the UI read them),
// and the one way a run is written: its JSON and its chart side by side.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { KvCacheType } from '../common/modelShape.ts';
import { DeviceBytes } from '../common/devices.ts';
import { KvOptions } from '../common/kv/policy.ts';
import { KvBuffer } from '../common/kv/usage.ts';
import { svgToPng } from './svgPng.ts';

export const NiahTrial = z.object({
    /** The context length this trial belongs to (the prompt is at most this many tokens). */
    contextTokens: z.number().int().positive(),
    depth: z.number().min(0).max(1),
    expected: z.string(),
    answer: z.string(),
    correct: z.boolean(),
    /** Tokens the templated prompt really took. */
    promptTokens: z.number().int().positive(),
    /** Where the fact landed in the document after snapping to a sentence end. */
    actualDepth: z.number().min(0).max(1),
});
export type NiahTrial = z.infer<typeof NiahTrial>;

export const NiahResult = z.object({
    model: z.string(),
    kv: KvOptions,
    /** The K and V cache type (older results: f16). */
    kvType: KvCacheType.default('f16'),
    /** Which heads a compressed plan keeps full: the profile's top heads, or its lowest (a control). */
    heads: z.enum(['top', 'lowest']).default('top'),
    /** Full heads of all KV heads in the plan that ran. */
    fullHeads: z.number().int().nonnegative().optional(),
    totalHeads: z.number().int().positive().optional(),
    accuracy: z.number().min(0).max(1),
    trials: z.array(NiahTrial),
    seed: z.number().int(),
    filler: z.string(),
    device: z.string(),
    createdAt: z.string(),
});
export type NiahResult = z.infer<typeof NiahResult>;

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
