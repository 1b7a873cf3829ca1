// Needle in a haystack: passkey facts buried at chosen depths of filler documents of chosen
// lengths, asked back through the model's chat template, greedy; right when the answer
// holds the five digits.
import path from 'node:path';
import type { FoundProfile, KvOptions } from '../common/kv/policy.ts';
import type { KvCacheType } from '../common/modelShape.ts';
import { loadModel, requireCompression } from '../engine/load.ts';
import { buildHaystack, DEFAULT_FILLER_PATH, loadFiller, makeNeedle, seededRandom } from '../engine/profiler/haystack.ts';
import { askAboutDocument, chatPromptTokens } from '../engine/profiler/prompting.ts';
import { computeDevice, runtime } from '../engine/runtime.ts';
import { heatmapSvg } from './charts.ts';
import { deviceName, kvLabel } from './cliArgs.ts';
import { NiahResult, writeRun, type NiahTrial } from './results.ts';

export interface NiahOptions {
    modelPath: string;
    lengths: number[];
    depths: number[];
    trials: number;
    seed: number;
    kv: KvOptions;
    /** The K and V cache type (default f16). */
    kvCacheType?: KvCacheType;
    /** The profile whose heads a compressed run keeps full. */
    profile?: FoundProfile | null;
    /** lowest: the budget goes to the profile's lowest-scoring heads instead (a control). */
    heads?: 'top' | 'lowest';
    fillerPath?: string;
    onTrial?: (trial: NiahTrial, done: number, total: number) => void;
}

const ANSWER_TOKENS = 32;
// Room left between the document and the length, so the templated prompt stays within it.
const PROMPT_SLACK_TOKENS = 4;

export async function runNiah(options: NiahOptions): Promise<NiahResult> {
    const contextSize = Math.max(...options.lengths) + ANSWER_TOKENS;
    const heads = options.heads ?? 'top';
    const given = options.profile ?? null;
    const profile = heads === 'lowest' && given != null
        ? { ...given, profile: { ...given.profile, scores: given.profile.scores.map((row) => row.map((score) => -score)) } }
        : given;
    const kvCacheType = options.kvCacheType ?? 'f16';
    const load = loadModel({ path: options.modelPath, contextSize, kv: options.kv, kvCacheType, ...(kvCacheType !== 'f16' ? { flashAttention: 'on' as const } : {}), profile });
    const loaded = options.kv.mode === 'off' ? await load : await requireCompression(await load);
    try {
        const { model, context, shape } = loaded;
        const { llama } = await runtime.get();
        const compute = computeDevice(llama);
        const plan = loaded.kv.resolved?.plan ?? null;
        const sequence = context.getSequence();
        const random = seededRandom(options.seed);
        const filler = loadFiller(options.fillerPath);
        const trials: NiahTrial[] = [];
        const total = options.lengths.length * options.depths.length * options.trials;
        for (const length of options.lengths) {
            for (const depth of options.depths) {
                for (let t = 0; t < options.trials; t++) {
                    const needle = makeNeedle(random);
                    const overhead = (await chatPromptTokens(model, '', needle.question)).length;
                    const haystack = buildHaystack(model, filler, needle, length - overhead - PROMPT_SLACK_TOKENS, depth, random);
                    const promptTokens = (await chatPromptTokens(model, haystack.document, needle.question)).length;
                    const answer = await askAboutDocument(sequence, haystack.document, needle.question, ANSWER_TOKENS);
                    const trial: NiahTrial = {
                        contextTokens: length, depth, expected: needle.digits, answer,
                        correct: answer.includes(needle.digits), promptTokens, actualDepth: haystack.actualDepth,
                    };
                    trials.push(trial);
                    options.onTrial?.(trial, trials.length, total);
                }
            }
        }
        const gpuName = compute === 'gpu' ? (await llama.getGpuDeviceNames())[0] ?? null : null;
        return NiahResult.parse({
            model: path.basename(options.modelPath),
            kv: options.kv,
            kvType: kvCacheType,
            heads,
            ...(plan == null ? {} : { fullHeads: plan.policy.flat().filter((p) => p === 'full').length, totalHeads: shape.layers * shape.kvHeads }),
            accuracy: trials.filter((t) => t.correct).length / trials.length,
            trials,
            seed: options.seed,
            filler: path.basename(options.fillerPath ?? DEFAULT_FILLER_PATH),
            device: deviceName(compute, gpuName, context.currentThreads),
            createdAt: new Date().toISOString(),
        });
    } finally {
        await loaded.dispose();
    }
}

/** The classic depth × length accuracy grid. */
export function niahHeatmapSvg(result: NiahResult): string {
    const lengths = [...new Set(result.trials.map((t) => t.contextTokens))].sort((a, b) => a - b);
    const depths = [...new Set(result.trials.map((t) => t.depth))].sort((a, b) => a - b);
    const cells = depths.map((depth) => lengths.map((length) => {
        const group = result.trials.filter((t) => t.depth === depth && t.contextTokens === length);
        return group.length === 0 ? null : group.filter((t) => t.correct).length / group.length;
    }));
    return heatmapSvg({
        title: `Needle in a haystack: ${result.model}, kv ${kvLabel(result.kv)}${result.heads === 'lowest' ? ' on the lowest-scoring heads' : ''}${result.fullHeads != null ? ` (${result.fullHeads}/${result.totalHeads} heads full)` : ''}, ${Math.round(result.accuracy * 100)}% overall`,
        columns: lengths.map(String),
        rows: depths.map((d) => `${Math.round(d * 100)}%`),
        cells,
        xLabel: 'context length (tokens)',
        yLabel: 'needle depth',
    });
}

export function writeNiahOutputs(result: NiahResult, outDir: string): Promise<{ json: string; png: string }> {
    return writeRun(outDir, 'niah', result, niahHeatmapSvg(result));
}
