// Needle in a haystack: passkey facts buried at chosen depths of filler documents of chosen
// lengths, asked back through the model's chat template, greedy; right when the answer holds
// the five digits. `npm run niah` runs it on a loaded model; Test recall (recall.ts) on the
// chat's model with the full cache and with its head plan.
import path from 'node:path';
import type { LlamaContextSequence, LlamaModel } from 'node-llama-cpp';
import type { FoundProfile, KvOptions } from '../common/kv/policy.ts';
import type { KvCacheType } from '../common/modelShape.ts';
import { NiahResult, type NiahTrial } from '../common/niah.ts';
import { loadModel, requireCompression, type ModelContext } from './load.ts';
import { buildHaystack, fillerName, loadFiller, makeNeedle, seededRandom, type Filler } from './profiler/haystack.ts';
import { askAboutDocument, chatPromptTokens } from './profiler/prompting.ts';
import { computeDevice, deviceName, runtime } from './runtime.ts';

/** Tokens a trial's context keeps beyond its length, for the answer. */
export const ANSWER_TOKENS = 32;
// Room left between the document and the length, so the templated prompt stays within it.
const PROMPT_SLACK_TOKENS = 4;

export interface NiahGrid {
    lengths: number[];
    depths: number[];
    trials: number;
    seed: number;
    /** A bundled filler, or a text file's path; the Apache-2.0 license by default. */
    filler?: Filler | string;
}

/** Every trial of the grid on one sequence, in order: lengths, then depths, then repeats. */
export async function niahTrials(
    model: LlamaModel, sequence: LlamaContextSequence, grid: NiahGrid, onTrial?: (trial: NiahTrial, done: number, total: number) => void,
): Promise<NiahTrial[]> {
    const random = seededRandom(grid.seed);
    const filler = loadFiller(grid.filler);
    const trials: NiahTrial[] = [];
    const total = grid.lengths.length * grid.depths.length * grid.trials;
    for (const length of grid.lengths) {
        for (const depth of grid.depths) {
            for (let t = 0; t < grid.trials; t++) {
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
                onTrial?.(trial, trials.length, total);
            }
        }
    }
    return trials;
}

/** A run's trials as a result: what ran (model, cache, plan) and on what. */
export async function niahResultOf(
    run: { modelPath: string; context: ModelContext; kv: KvOptions; kvCacheType: KvCacheType; heads?: 'top' | 'lowest'; grid: NiahGrid },
    trials: NiahTrial[],
): Promise<NiahResult> {
    const { llama } = await runtime.get();
    const compute = computeDevice(llama);
    const plan = run.context.kv.resolved?.plan ?? null;
    const gpuName = compute === 'gpu' ? (await llama.getGpuDeviceNames())[0] ?? null : null;
    return NiahResult.parse({
        model: path.basename(run.modelPath),
        kv: run.kv,
        kvType: run.kvCacheType,
        heads: run.heads ?? 'top',
        ...(plan == null ? {} : { fullHeads: plan.policy.flat().filter((p) => p === 'full').length, totalHeads: run.context.shape.layers * run.context.shape.kvHeads }),
        accuracy: trials.length === 0 ? 0 : trials.filter((t) => t.correct).length / trials.length,
        trials,
        seed: run.grid.seed,
        filler: fillerName(run.grid.filler),
        device: deviceName(compute, gpuName, run.context.context.currentThreads),
        createdAt: new Date().toISOString(),
    });
}

export interface NiahOptions extends NiahGrid {
    modelPath: string;
    kv: KvOptions;
    /** The K and V cache type (default f16). */
    kvCacheType?: KvCacheType;
    /** The profile whose heads a compressed run keeps full. */
    profile?: FoundProfile | null;
    /** lowest: the budget goes to the profile's lowest-scoring heads instead (a control). */
    heads?: 'top' | 'lowest';
    onTrial?: (trial: NiahTrial, done: number, total: number) => void;
}

/** `npm run niah`: the model loaded with the given cache, the grid run on it. */
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
        const sequence = loaded.context.getSequence();
        const trials = await niahTrials(loaded.model, sequence, options, options.onTrial);
        return await niahResultOf({ modelPath: options.modelPath, context: loaded, kv: options.kv, kvCacheType, heads, grid: options }, trials);
    } finally {
        await loaded.dispose();
    }
}
