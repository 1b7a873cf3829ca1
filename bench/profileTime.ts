// How long scoring a model's KV heads takes, by attention (one pass a prompt) and by leave-one-out
// ablation (one pass a head), measured in the same run on the same prompts and model load
// (profileTimeCli.ts runs it). Ablation over every head of a big model would take hours here: a
// sample of heads spread over the layers is ablated, after the full cache's pass, and the time
// is extrapolated to every head (said so in the result).
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { HeadroomError } from '../common/errors.ts';
import { contextCellsFor, isWindowLayer, kvShapeFromMetadata } from '../common/modelShape.ts';
import { rankHeads } from '../common/kv/policy.ts';
import { openModel } from '../engine/load.ts';
import { scoreByAblation, type HeadRef } from '../engine/profiler/ablation.ts';
import { scoreByAttention } from '../engine/profiler/attentionScores.ts';
import { scoringPrompts } from '../engine/profiler/promptSets.ts';
import { computeDevice, deviceName, runtime } from '../engine/runtime.ts';
import { groupedBarsSvg } from './charts.ts';
import { writeRun } from './results.ts';

export const ProfileTimeRun = z.object({
    model: z.string(),
    layers: z.number().int().positive(),
    kvHeads: z.number().int().positive(),
    prompts: z.number().int().positive(),
    promptTokens: z.number().int().positive(),
    loadSeconds: z.number().nonnegative(),
    attention: z.object({ seconds: z.number().nonnegative(), topHeads: z.array(z.string()) }),
    ablation: z.object({
        /** Heads ablated in this run (all, or a sample spread over the layers). */
        measuredHeads: z.number().int().positive(),
        fullCacheSeconds: z.number().nonnegative(),
        secondsPerHead: z.number().nonnegative(),
        measuredSeconds: z.number().nonnegative(),
        /** The full cache's pass plus every head at the measured rate; equals measuredSeconds when every head ran. */
        allHeadsSeconds: z.number().nonnegative(),
        extrapolated: z.boolean(),
        topHeads: z.array(z.string()),
    }),
    /** allHeadsSeconds / attention seconds. */
    speedup: z.number().positive(),
    threads: z.number().int().positive(),
});
export type ProfileTimeRun = z.infer<typeof ProfileTimeRun>;

export const ProfileTimeResult = z.object({ device: z.string(), runs: z.array(ProfileTimeRun), createdAt: z.string() });
export type ProfileTimeResult = z.infer<typeof ProfileTimeResult>;

/** `count` heads spread evenly over the layers and heads (every head when count covers them). */
function sampleHeads(streamable: HeadRef[], count: number): HeadRef[] {
    if (count >= streamable.length) return streamable;
    return Array.from({ length: count }, (_, i) => streamable[Math.floor(((i + 0.5) * streamable.length) / count)]).filter((h): h is HeadRef => h != null);
}

export async function timeModel(modelPath: string, options: { prompts: number; tokens: number; ablationHeads: number | 'all'; threads?: number; log: (line: string) => void }): Promise<ProfileTimeRun> {
    const { log } = options;
    const threads = options.threads != null ? { threads: options.threads } : {};
    const loadStarted = performance.now();
    const opened = await openModel({ path: modelPath });
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    try {
        const set = await scoringPrompts(opened.model, options.prompts, options.tokens, 1);
        const shape = kvShapeFromMetadata(opened.metadata, contextCellsFor(set.contextTokens), 128);
        if (shape == null) throw new HeadroomError('NOT_AVAILABLE', `${path.basename(modelPath)} does not describe its attention heads.`);
        const streamable = Array.from({ length: shape.layers * shape.kvHeads }, (_, i) => ({ layer: Math.floor(i / shape.kvHeads), head: i % shape.kvHeads }))
            .filter(({ layer }) => !isWindowLayer(shape, layer));
        log(`${path.basename(modelPath)}: ${shape.layers} layers × ${shape.kvHeads} KV heads, ${set.prompts.length} prompts of ~${set.contextTokens} tokens, loaded in ${loadSeconds.toFixed(1)} s`);

        const attentionStarted = performance.now();
        const attention = await scoreByAttention(opened, shape, set, threads);
        const attentionSeconds = (performance.now() - attentionStarted) / 1000;
        log(`attention: ${attentionSeconds.toFixed(1)} s`);

        const heads = options.ablationHeads === 'all' ? streamable : sampleHeads(streamable, options.ablationHeads);
        let fullCacheSeconds = 0;
        let lastMark = performance.now();
        const ablationStarted = lastMark;
        const { scores } = await scoreByAblation(opened, shape, set, {
            sinks: 4, window: 64, heads, ...threads,
            log: (line) => {
                // The first line follows the full cache's pass; the rest, one a head.
                if (fullCacheSeconds === 0) fullCacheSeconds = (performance.now() - lastMark) / 1000;
                lastMark = performance.now();
                log(`ablation: ${line}`);
            },
        });
        const measuredSeconds = (performance.now() - ablationStarted) / 1000;
        const secondsPerHead = (measuredSeconds - fullCacheSeconds) / heads.length;
        const allHeadsSeconds = fullCacheSeconds + secondsPerHead * streamable.length;
        const top = (grid: number[][]) => rankHeads(grid).slice(0, 4).map((h) => `L${h.layer}H${h.head}`);
        return {
            model: path.basename(modelPath), layers: shape.layers, kvHeads: shape.kvHeads, prompts: set.prompts.length, promptTokens: set.contextTokens,
            loadSeconds,
            attention: { seconds: attentionSeconds, topHeads: top(attention) },
            ablation: {
                measuredHeads: heads.length, fullCacheSeconds, secondsPerHead, measuredSeconds, allHeadsSeconds,
                extrapolated: heads.length < streamable.length, topHeads: top(scores),
            },
            speedup: allHeadsSeconds / attentionSeconds,
            threads: options.threads ?? os.availableParallelism(),
        };
    } finally {
        await opened.dispose();
    }
}

export function profileTimeSvg(result: ProfileTimeResult): string {
    return groupedBarsSvg({
        title: `Scoring KV heads: attention vs leave-one-out ablation (${result.device.split(',')[0] ?? result.device})`,
        groups: ['scoring'],
        groupLabel: '',
        series: ['attention', 'ablation (every head; * extrapolated)'],
        panels: result.runs.map((run) => ({
            title: `${run.model}, ${run.layers * run.kvHeads} heads: ${run.speedup.toFixed(0)}×${run.ablation.extrapolated ? ' *' : ''}`,
            yLabel: 'seconds',
            values: [[run.attention.seconds], [run.ablation.allHeadsSeconds]],
        })),
    });
}


/** Every model in turn, then the result as profile-time.json and its chart. */
export async function runProfileTime(models: string[], options: { prompts: number; tokens: number; samples: (number | 'all')[]; threads?: number; log: (line: string) => void; out: string }) {
    const runs: ProfileTimeRun[] = [];
    for (const [i, model] of models.entries()) {
        const ablationHeads = options.samples[options.samples.length === 1 ? 0 : i] ?? 'all';
        runs.push(await timeModel(model, { ...options, ablationHeads }));
    }
    const { llama } = await runtime.get();
    const compute = computeDevice(llama);
    const gpuName = compute === 'gpu' ? (await llama.getGpuDeviceNames())[0] ?? null : null;
    const result = ProfileTimeResult.parse({ device: deviceName(compute, gpuName, options.threads ?? os.availableParallelism()), runs, createdAt: new Date().toISOString() });
    return { result, ...(await writeRun(options.out, 'profile-time', result, profileTimeSvg(result))) };
}
