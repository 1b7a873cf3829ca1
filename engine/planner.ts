// Predicts a model's memory before it is loaded: weights and compute buffers from
// node-llama-cpp's resource estimation (it simulates llama.cpp's allocations), the KV cache
// from policy.ts with the model's real shape. Runs where node-llama-cpp lives (engine host, CLI).
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { GgufFileInfo, GgufInsights, GgufMetadata, Llama } from 'node-llama-cpp';
import type { Device } from '../common/devices.ts';
import { HeadroomError } from '../common/errors.ts';
import { flashAttentionOption, type FlashAttention } from '../common/loadOptions.ts';
import { attentionOf, contextCellsFor, headwiseSupport, KV_CACHE_TYPES, KvCacheType, kvCacheTypeRefusal, kvShapeOf, supportsKvCacheType, type ModelAttention } from '../common/modelShape.ts';
import { budgetRefusal, COMPRESSED_UBATCH, KV_OFF, planBudget, planHeads, streamingCellPaddingFor, type HeadPlan, type HeadProfile, type KvOptions } from '../common/kv/policy.ts';
import { kvUsageFromFormula } from '../common/kv/usage.ts';
import { supportsHeadwise, type FitVerdict, type PublishedShape } from '../common/models.ts';
import { HEADROOM_FRACTION, machineVerdict, PlanRequest, type FitGoal, type FitResult, type Machine, type MemoryPlan, type PlanInput } from '../common/plan.ts';
import { findProfile } from './kv/profiles.ts';
import { buildSupportsHeadwise } from './kv/native.ts';
import { backendOf, runtime } from './runtime.ts';
import { checkGgufFile } from '../common/ggufHeader.ts';

/** Tokens llama.cpp evaluates at once by default; a streaming head keeps room for one batch. */
export const DEFAULT_UBATCH = 512;

export async function machineOf(llama: Llama): Promise<Machine> {
    const backend = backendOf(llama);
    const vram = backend === 'cpu' ? { total: 0, free: 0 } : await llama.getVramState();
    return { gpu: backend === 'cpu' ? false : backend, vramTotal: vram.total, vramFree: vram.free, ramTotal: os.totalmem(), ramFree: os.freemem() };
}

/** What a plan needs to know about a model: from its file, or from its published shape. */
interface ModelFacts {
    insights: GgufInsights;
    name: string;
    architecture: string;
    attention: ModelAttention;
    /** Weights in bytes on each device with `gpuLayers` layers offloaded. */
    weights: (gpuLayers: number) => Promise<{ gpuVram: number; cpuRam: number }>;
    /** The layers node-llama-cpp would offload for gpuLayers 'auto'. */
    autoGpuLayers: (flashAttention: FlashAttention) => Promise<number>;
    /** Said in the plan's notes: how the facts were obtained, when not from the file. */
    caveat: string | null;
    /** The GGUF metadata: a shipped head profile is matched by it (none for a published shape). */
    metadata: Record<string, unknown> | null;
}

const factsCache = new Map<string, Promise<ModelFacts>>();

async function modelFacts(llama: Llama, modelPath: string): Promise<ModelFacts> {
    // Keyed by size and time too: a file replaced at the same path is read again.
    const file = await fs.stat(modelPath);
    const key = `${modelPath}:${file.size}:${file.mtimeMs}`;
    let facts = factsCache.get(key);
    if (facts == null) {
        facts = (async () => {
            const { readGgufFileInfo, GgufInsights } = await import('node-llama-cpp');
            const info = await readGgufFileInfo(modelPath);
            const insights = await GgufInsights.from(info, llama);
            const architecture = String(info.metadata.general?.architecture ?? '');
            return {
                insights,
                name: info.metadata.general?.name ?? path.basename(modelPath, '.gguf'),
                architecture,
                attention: attentionOf(info.architectureMetadata, architecture),
                weights: (gpuLayers) => insights.estimateModelResourceRequirementsV2({ gpuLayers }),
                autoGpuLayers: async (flashAttention) => {
                    const resolved = await insights.configurationResolver.resolveModelGpuLayersV2('auto', { defaultContextFlashAttention: flashAttentionOption(flashAttention) });
                    return typeof resolved === 'number' ? resolved : resolved.gpuLayers;
                },
                caveat: null,
                metadata: info.metadata as unknown as Record<string, unknown>,
            };
        })();
        factsCache.set(key, facts);
        facts.catch(() => factsCache.delete(key));
    }
    return facts;
}

/**
 * Facts for a model known only by its published shape (the catalog's entries, before any
 * download): the header a GGUF of that shape carries, without tensors, so node-llama-cpp
 * estimates the compute buffers from the metadata alone; the weights are the published file
 * size spread evenly over the layers.
 */
async function publishedFacts(llama: Llama, shape: PublishedShape): Promise<ModelFacts> {
    const { GgufInsights } = await import('node-llama-cpp');
    const architectureMetadata = {
        block_count: shape.layers,
        context_length: shape.trainContextSize,
        embedding_length: shape.embeddingLength,
        feed_forward_length: shape.feedForwardLength,
        vocab_size: shape.vocabSize,
        attention: { head_count: shape.heads, head_count_kv: shape.kvHeads, key_length: shape.headDim, value_length: shape.headDim },
    };
    // node-llama-cpp types metadata as read from real files, per literal architecture; this is
    // the subset its estimator reads, for an architecture named at run time.
    const metadata = { general: { architecture: shape.architecture, name: shape.id }, [shape.architecture]: architectureMetadata } as unknown as GgufMetadata;
    const info: GgufFileInfo = {
        version: 3, tensorCount: 0, metadata, metadataSize: 0, tensorInfo: [], tensorInfoSize: 0,
        architectureMetadata: architectureMetadata as unknown as GgufFileInfo['architectureMetadata'],
        splicedParts: 1, totalTensorCount: 0, totalMetadataSize: 0, fullTensorInfo: [], totalTensorInfoSize: 0, sourceData: [],
    };
    const insights = await GgufInsights.from(info, llama);
    // Embeddings and output count as one more layer, as node-llama-cpp counts them.
    const perLayer = shape.sizeBytes / insights.totalLayers;
    const weights = async (gpuLayers: number) => {
        const gpuVram = Math.round(perLayer * Math.min(gpuLayers, insights.totalLayers));
        return { gpuVram, cpuRam: shape.sizeBytes - gpuVram };
    };
    return {
        insights,
        name: shape.id,
        architecture: shape.architecture,
        attention: attentionOf(architectureMetadata, shape.architecture),
        weights,
        // As many whole layers as the free GPU memory holds, leaving Headroom's spare share.
        autoGpuLayers: async () => {
            if (backendOf(llama) === 'cpu') return 0;
            const { free } = await llama.getVramState();
            return Math.max(0, Math.min(insights.totalLayers, Math.floor((free * HEADROOM_FRACTION) / perLayer)));
        },
        caveat: 'Planned from the published size and shape, not from the file.',
        metadata: null,
    };
}

/** The plan for a request; `profile` (the head scores to plan with) must be for this model's shape. */
export async function planMemory(llama: Llama, input: PlanInput, profile: HeadProfile | null = null, known?: ModelFacts): Promise<MemoryPlan> {
    const request = PlanRequest.parse(input);
    const facts = known ?? await modelFacts(llama, request.path);
    const { insights, name, architecture, attention } = facts;
    const machine = await machineOf(llama);
    const notes: string[] = facts.caveat == null ? [] : [facts.caveat];
    const layers = insights.totalLayers;
    const hasGpu = backendOf(llama) !== 'cpu';
    let gpuLayers = 0;
    if (hasGpu && request.gpuLayers === 'auto') {
        gpuLayers = await facts.autoGpuLayers(request.flashAttention);
    } else if (hasGpu && request.gpuLayers !== 'auto') {
        gpuLayers = Math.min(request.gpuLayers, layers);
    }
    if (!hasGpu && request.gpuLayers !== 'auto' && request.gpuLayers > 0) notes.push('No GPU on this machine: every layer runs on the CPU.');
    const kvCacheTypes = KvCacheType.options.filter((type) => supportsKvCacheType(attention, type));
    let cacheType = request.kvCacheType;
    const refusal = kvCacheTypeRefusal(attention, cacheType, name);
    if (refusal != null) {
        notes.push(`${refusal} Planned with f16.`);
        cacheType = 'f16';
    }

    // what a load would run: the stock cache where this build or this architecture cannot compress
    const compressible = buildSupportsHeadwise(llama.systemInfo) ? headwiseSupport(architecture) : { supported: false, reason: 'This llama.cpp build has no head-level KV cache: planned with the full cache.' };
    if (request.kv.mode !== 'off' && !compressible.supported && compressible.reason != null) notes.push(compressible.reason);
    const compressed = compressible.supported && request.kv.mode !== 'off' && (request.kv.mode !== 'auto' || profile != null);
    if (compressible.supported && request.kv.mode === 'auto' && profile == null) notes.push('No head profile for this model yet: "auto" runs the full cache until its heads are profiled.');
    const contextCells = contextCellsFor(request.contextSize);
    // The engine runs compressed contexts with smaller batches: a streaming head holds one beyond its window.
    const batchSize = Math.min(compressed ? COMPRESSED_UBATCH : DEFAULT_UBATCH, contextCells);
    const shape = { ...kvShapeOf(attention, { contextCells, batchSize, cacheType }), streamingCellPadding: streamingCellPaddingFor(backendOf(llama)) };
    const attentionLayersOnGpu = Math.min(gpuLayers, attention.layers);
    const stock = kvUsageFromFormula(shape, null, { gpuLayers: attentionLayersOnGpu, profile });

    const weights = await facts.weights(gpuLayers);
    const { GgmlType } = await import('node-llama-cpp');
    const ggmlCacheType = GgmlType[KV_CACHE_TYPES[cacheType].ggml];
    const withContext = await insights.estimateContextResourceRequirementsV2({
        contextSize: contextCells, modelGpuLayers: gpuLayers, batchSize, sequences: 1,
        flashAttention: flashAttentionOption(request.flashAttention), kvCacheKeyType: ggmlCacheType, kvCacheValueType: ggmlCacheType,
    });
    // node-llama-cpp's estimate holds the stock cache plus the compute buffers: keep the latter.
    const computeBytes = { gpu: Math.max(0, withContext.gpuVram - stock.gpu), cpu: Math.max(0, withContext.cpuRam - stock.cpu) };

    const planFor = (fullPlacement: Device): HeadPlan | null => compressed ? planHeads({ ...request.kv, offload: fullPlacement }, shape, fullPlacement, profile) : null;
    if (compressed && request.kv.mode === 'budget' && request.kv.budget != null) {
        const refusal = budgetRefusal(shape, request.kv.budget, { ...request.kv, fullPlacement: 'gpu' });
        if (refusal != null) notes.push(refusal);
    }

    const gpuAvailable = hasGpu && gpuLayers > 0;
    const place = (placement: Device) => {
        const kv = compressed ? kvUsageFromFormula(shape, planFor(placement), { gpuLayers: attentionLayersOnGpu, profile }) : stock;
        const needs = { gpuBytes: weights.gpuVram + kv.gpu + computeBytes.gpu, cpuBytes: weights.cpuRam + kv.cpu + computeBytes.cpu };
        return { kv, ...needs, ...machineVerdict(needs, machine) };
    };
    let placement: Device = request.kv.offload === 'cpu' || !gpuAvailable ? 'cpu' : 'gpu';
    if (request.kv.offload === 'gpu' && !gpuAvailable && compressed) notes.push('KV offload "GPU" needs a GPU with layers on it: full heads are planned in CPU RAM.');
    let result = place(placement);
    if (request.kv.offload === 'auto' && placement === 'gpu' && !result.gpuFits) {
        placement = 'cpu';
        result = place(placement);
    }
    notes.push(...result.notes);
    const plannedHeads = planFor(placement);
    const budget = plannedHeads == null ? null : planBudget(shape, plannedHeads, placement);
    if (compressed && gpuAvailable) {
        notes.push(placement === 'cpu'
            ? 'Full heads live in CPU RAM and the CPU attends them there; streaming heads are attended on the GPU. Only queries and results cross, never the cache, and flash attention stays on.'
            : 'Full and streaming heads are attended on the GPU.');
    }
    if (request.contextSize > (insights.trainContextSize ?? Infinity)) notes.push(`The model was trained for ${insights.trainContextSize} tokens; answers may degrade beyond that.`);

    return {
        model: {
            path: request.path, name, layers: attention.layers, kvHeads: attention.kvHeads,
            headDim: attention.keyDim, trainContextSize: insights.trainContextSize ?? 0, kvCacheTypes: [...kvCacheTypes],
        },
        contextSize: request.contextSize,
        contextCells,
        gpuLayers,
        budget,
        kvCacheType: cacheType,
        predicted: {
            weightsBytes: weights.gpuVram + weights.cpuRam,
            weights: { gpu: weights.gpuVram, cpu: weights.cpuRam },
            kvBytes: { gpu: result.kv.gpu, cpu: result.kv.cpu },
            computeBytes,
            gpuBytes: result.gpuBytes,
            cpuBytes: result.cpuBytes,
            fits: result.gpuFits && result.cpuFits,
        },
        kv: result.kv,
        machine,
        notes,
    };
}

/**
 * "Fit to my machine": the largest context that fits (goal 'context'), or the least
 * compression, i.e. the largest budget, at the chosen context (goal 'compression').
 */
export async function fitToMachine(llama: Llama, input: PlanInput, goal: FitGoal, profile: HeadProfile | null = null, known?: ModelFacts): Promise<FitResult> {
    const request = PlanRequest.parse(input);
    const facts = known ?? await modelFacts(llama, request.path);
    const planAt = (planned: PlanInput) => planMemory(llama, planned, profile, facts);
    if (goal === 'context') {
        const most = Math.max(256, Math.min(1 << 20, facts.insights.trainContextSize ?? 1 << 20));
        const fits = async (contextSize: number) => (await planAt({ ...request, contextSize })).predicted.fits;
        // Whole multiples of the 256-cell padding: llama.cpp allocates those anyway.
        let low = 0;
        let high = Math.floor(most / 256);
        while (low < high) {
            const mid = Math.ceil((low + high + 1) / 2);
            if (await fits(mid * 256)) low = mid;
            else high = mid - 1;
        }
        if (low === 0) return { request: null, plan: null, message: 'Even a 256-token context does not fit this machine with these settings.' };
        const fitted = { ...request, contextSize: low * 256 };
        const capped = low * 256 === most ? ' (all the model was trained for)' : '';
        return { request: fitted, plan: await planAt(fitted), message: `The largest context that fits is ${(low * 256).toLocaleString('en-US')} tokens${capped}.` };
    }
    const atBudget = (budget: number) => ({ ...request, kv: { ...request.kv, mode: 'budget' as const, budget } });
    const stock = await planAt({ ...request, kv: { ...request.kv, mode: 'off' } });
    if (stock.predicted.fits) return { request: { ...request, kv: { ...request.kv, mode: 'off' } }, plan: stock, message: 'The full cache fits: no compression needed.' };
    // Budgets in 1% steps, from most to least compression (100% would be the stock cache,
    // which did not fit; only its smaller compressed batches could make it look otherwise).
    let low = 1;
    let high = 99;
    if (!(await planAt(atBudget(0.01))).predicted.fits) {
        return { request: null, plan: null, message: 'Even the strongest compression does not fit: choose a shorter context or a smaller model.' };
    }
    while (low < high) {
        const mid = Math.ceil((low + high) / 2);
        if ((await planAt(atBudget(mid / 100))).predicted.fits) low = mid;
        else high = mid - 1;
    }
    const fitted = atBudget(low / 100);
    return { request: fitted, plan: await planAt(fitted), message: `The least compression that fits keeps ${low}% of the cache.` };
}

/** The head profile a plan uses: the request's explicit file, else the one stored for the model, else a shipped one (as a load finds it). */
async function profileFor(llama: Llama, request: PlanInput): Promise<HeadProfile | null> {
    const { attention, metadata } = await modelFacts(llama, request.path);
    return (await findProfile(request.path, { explicit: request.kv?.profile, shape: attention, ...(metadata != null ? { metadata } : {}) }))?.profile ?? null;
}

/** Runs a plan or fit for a model file on this process's runtime, one at a time with loads. */
async function planned<T>(input: PlanInput, work: (llama: Llama, profile: HeadProfile | null) => Promise<T>): Promise<T> {
    const { llama } = await runtime.get();
    await checkGgufFile(fs, input.path); // node-llama-cpp's reader trusts the header's counts
    try {
        return await runtime.exclusive(async () => work(llama, await profileFor(llama, input)));
    } catch (error) {
        if (error instanceof HeadroomError) throw error;
        console.error(`Headroom: planning ${input.path} failed:`, error);
        throw new HeadroomError('MODEL_LOAD_FAILED', `Could not plan memory for ${path.basename(input.path)}: llama.cpp could not make sense of the model (the details were logged).`);
    }
}

/** memory.plan: what a model needs at these settings, and whether this machine has it. */
export const plan = (input: PlanInput) => planned(input, (llama, profile) => planMemory(llama, input, profile));

/** memory.fit: the largest context, or the least compression, that fits this machine. */
export const fit = (input: PlanInput, goal: FitGoal) => planned(input, (llama, profile) => fitToMachine(llama, input, goal, profile));

/**
 * The catalog's verdicts: for each published shape, the largest context that fits this machine
 * with the full cache and, where our build supports the architecture, with head-level
 * compression at `kv`'s budget, or CATALOG_BUDGET for 'auto' (no profile exists before the
 * download: the fallback order).
 */
/** 'auto' for a model not yet downloaded: half the cache, until its heads are profiled here. */
const CATALOG_BUDGET = 0.5;

export async function fitPublished(shapes: readonly PublishedShape[], kv: KvOptions): Promise<FitVerdict[]> {
    const { llama } = await runtime.get();
    const budget = kv.mode === 'budget' && kv.budget != null ? kv.budget : CATALOG_BUDGET;
    return runtime.exclusive(async () => {
        const verdicts: FitVerdict[] = [];
        for (const shape of shapes) {
            const facts = await publishedFacts(llama, shape);
            const largest = async (options: KvOptions) => {
                const fit = await fitToMachine(llama, { path: shape.id, contextSize: 256, kv: options }, 'context', null, facts);
                return { contextSize: fit.request?.contextSize ?? 0, message: fit.message };
            };
            verdicts.push({
                id: shape.id,
                full: await largest(KV_OFF),
                compressed: supportsHeadwise(shape.architecture) && buildSupportsHeadwise(llama.systemInfo) ? { ...await largest({ ...kv, mode: 'budget', budget }), budget } : null,
            });
        }
        return verdicts;
    });
}
