// Predicts a model's memory before it is loaded: weights and compute buffers from
// node-llama-cpp's resource estimation (it simulates llama.cpp's allocations), the KV cache
// from policy.ts with the model's real shape. Runs where node-llama-cpp lives (engine host, CLI).
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { GgufFileInfo, GgufInsights, GgufMetadata, Llama } from 'node-llama-cpp';
import type { Device, DeviceBytes } from '../common/devices.ts';
import { HeadroomError } from '../common/errors.ts';
import { flashAttentionOption, MAX_CONTEXT_TOKENS, type FlashAttention } from '../common/loadOptions.ts';
import { attentionOf, contextCellsFor, headwiseSupport, KV_CACHE_TYPES, KvCacheType, kvCacheTypeRefusal, kvShapeOf, supportsKvCacheType, type ModelAttention } from '../common/modelShape.ts';
import { budgetRefusal, COMPRESSED_UBATCH, KV_OFF, planBudget, planHeads, streamingCellPaddingFor, type HeadPlan, type HeadProfile, type KvOptions } from '../common/kv/policy.ts';
import { kvUsageFromFormula } from '../common/kv/usage.ts';
import { supportsHeadwise, type FitVerdict, type PublishedShape } from '../common/models.ts';
import { HEADROOM_FRACTION, machineVerdict, PlanRequest, type FitGoal, type FitResult, type Machine, type MemoryPlan, type OffloadChoice, type OffloadCost, type PlanInput } from '../common/plan.ts';

import { findProfile } from './kv/profiles.ts';
import { buildSupportsHeadwise } from './kv/native.ts';
import { backendOf, runtime } from './runtime.ts';
import { checkGgufFile } from '../common/ggufHeader.ts';

/** Tokens llama.cpp evaluates at once by default; a streaming head keeps room for one batch. */
export const DEFAULT_UBATCH = 512;

/** This machine's memory; `freed`: what a load would give back first (the loaded model's buffers), counted as free. */
export async function machineOf(llama: Llama, freed: DeviceBytes = { gpu: 0, cpu: 0 }): Promise<Machine> {
    const backend = backendOf(llama);
    const vram = backend === 'cpu' ? { total: 0, free: 0 } : await llama.getVramState();
    const gpuName = backend === 'cpu' ? null : (await llama.getGpuDeviceNames())[0] ?? null;
    const ramTotal = os.totalmem();
    return {
        gpu: backend === 'cpu' ? false : backend, vramTotal: vram.total, vramFree: Math.min(vram.total, vram.free + freed.gpu),
        ramTotal, ramFree: Math.min(ramTotal, os.freemem() + freed.cpu), gpuName,
    };
}

/**
 * The decode-cost model's rates, bytes read per second while decoding, and where they come from.
 * Decoding one token reads every weight and every cached K/V row once, so a token takes
 *   t = W_gpu / gpuWeights + W_cpu / cpuWeights + KV_gpu / gpuKv + KV_cpu / cpuKv
 *       (+ with full heads in CPU RAM: crossing bytes / link + crossing layers × crossingSeconds)
 * where W and KV are the bytes each device holds (the planner's prediction) at a full context.
 */
export interface DecodeRates {
    gpuWeights: number;
    gpuKv: number;
    cpuWeights: number;
    cpuKv: number;
    link: number;
    crossingSeconds: number;
    source: string;
}

/** A Vulkan device that is a CPU underneath (Mesa's llvmpipe / lavapipe): what CI and this project's machines have. */
export function isCpuBackedGpu(gpuName: string | null | undefined): boolean {
    return gpuName != null && /llvmpipe|lavapipe|softpipe|swiftshader/i.test(gpuName);
}

/**
 * Rates per CPU thread, measured on this project's 2-core AMD EPYC (bench/results/vulkan-llvmpipe-offload-cost/):
 * ggml's CPU backend reading Q4_0 weights and attending an f16 cache with flash attention in decode.
 * A machine's CPU is credited with them per thread it runs, up to what a desktop's memory delivers.
 */
export const CPU_RATES_PER_THREAD = { weights: 2.2e9, kv: 1.9e9 };
const CPU_MEMORY_BANDWIDTH = 40e9;
/**
 * llvmpipe's rates at 2 threads (the same runs): its shaders run on the CPU, slower than ggml's own CPU
 * code, and its flash-attention shader far slower per KV byte than its matrix products.
 */
export const LLVMPIPE_RATES = { weights: 1.6e9, kv: 0.25e9, link: 4e9, crossingSeconds: 0.6e-3 };
/**
 * A discrete GPU, assumed, not measured (no GPU was lent to this project): ~300 GB/s read in decode, about
 * 60-70 % of a mid-range card's published memory bandwidth (an RTX 4060 Ti has 288 GB/s, a 4070 504 GB/s);
 * PCIe 4.0 x16 moves ~25 GB/s, and each crossing waits ~20 µs for the GPU.
 */
export const ASSUMED_GPU_RATES = { weights: 300e9, kv: 300e9, link: 25e9, crossingSeconds: 20e-6 };

export function decodeRatesFor(machine: Pick<Machine, 'gpu' | 'gpuName'>, threads: number): DecodeRates {
    const cpuWeights = Math.min(CPU_MEMORY_BANDWIDTH, CPU_RATES_PER_THREAD.weights * threads);
    const cpuKv = Math.min(CPU_MEMORY_BANDWIDTH, CPU_RATES_PER_THREAD.kv * threads);
    const cpu = `the CPU at ${(CPU_RATES_PER_THREAD.weights / 1e9).toFixed(1)} GB/s of weights and ${(CPU_RATES_PER_THREAD.kv / 1e9).toFixed(1)} GB/s of KV per thread × ${threads} (measured on a 2-core AMD EPYC)`;
    if (isCpuBackedGpu(machine.gpuName)) {
        return {
            gpuWeights: LLVMPIPE_RATES.weights, gpuKv: LLVMPIPE_RATES.kv, cpuWeights, cpuKv, link: LLVMPIPE_RATES.link, crossingSeconds: LLVMPIPE_RATES.crossingSeconds,
            source: `${machine.gpuName ?? 'the device'} is a CPU-backed Vulkan device: its rates were measured on llvmpipe (2-core AMD EPYC); ${cpu}`,
        };
    }
    return {
        gpuWeights: ASSUMED_GPU_RATES.weights, gpuKv: ASSUMED_GPU_RATES.kv, cpuWeights, cpuKv, link: ASSUMED_GPU_RATES.link, crossingSeconds: ASSUMED_GPU_RATES.crossingSeconds,
        source: `the GPU assumed at ${ASSUMED_GPU_RATES.weights / 1e9} GB/s and PCIe at ${ASSUMED_GPU_RATES.link / 1e9} GB/s (no GPU was measured); ${cpu}`,
    };
}

/** What crosses between the GPU and the CPU per decoded token with the plan's full heads in CPU RAM. */
export function crossingPerToken(plan: HeadPlan, attention: { queryHeads: number; kvHeads: number; keyDim: number; valueDim: number }): { bytes: number; layers: number } {
    const group = attention.queryHeads / attention.kvHeads;
    let bytes = 0;
    let layers = 0;
    for (const row of plan.policy) {
        const full = row.filter((p) => p === 'full').length;
        if (full === 0) continue;
        layers++;
        // in F32: the full heads' queries (their whole query groups) and new key and value rows go to the CPU, their attention output comes back
        bytes += 4 * full * (group * attention.keyDim + attention.keyDim + attention.valueDim + group * attention.valueDim);
    }
    return { bytes, layers };
}

/** Seconds one decoded token takes under the read-rate model (DecodeRates). */
export function decodeSeconds(weights: DeviceBytes, kv: DeviceBytes, rates: DecodeRates, crossing: { bytes: number; layers: number } | null): number {
    const reads = weights.gpu / rates.gpuWeights + weights.cpu / rates.cpuWeights + kv.gpu / rates.gpuKv + kv.cpu / rates.cpuKv;
    return reads + (crossing == null ? 0 : crossing.bytes / rates.link + crossing.layers * rates.crossingSeconds);
}

/**
 * The cost of full heads in CPU RAM against the GPU, at a full context: `onGpu` and `inRam` are the KV bytes per
 * device with the full heads on the GPU and in RAM, `plan` the plan with them in RAM.
 */
export function offloadDecodeCost(input: {
    plan: HeadPlan; weights: DeviceBytes; onGpu: DeviceBytes; inRam: DeviceBytes; rates: DecodeRates;
    attention: { queryHeads: number; kvHeads: number; keyDim: number; valueDim: number };
}): OffloadCost {
    const { plan, weights, onGpu, inRam, rates } = input;
    const crossing = crossingPerToken(plan, input.attention);
    const gpuSeconds = decodeSeconds(weights, onGpu, rates, null);
    const cpuSeconds = decodeSeconds(weights, inRam, rates, crossing);
    const { source, ...numbers } = rates;
    const cost = {
        crossingBytesPerToken: crossing.bytes,
        fullKvBytes: Math.max(0, inRam.cpu - onGpu.cpu),
        crossingLayers: crossing.layers,
        decodeTokPerSec: { gpu: 1 / gpuSeconds, cpu: 1 / cpuSeconds },
        rates: numbers,
        source,
    };
    return { ...cost, summary: describeOffloadCost(cost) };
}

/** "≈ 41 KB cross per token; decode ≈ 6.1 tok/s against 5.4 with them on the GPU": the cost as the planner and the settings say it. */
export function describeOffloadCost(cost: Omit<OffloadCost, 'summary' | 'source' | 'rates'>): string {
    const kb = cost.crossingBytesPerToken / 1000;
    const crossing = kb >= 1000 ? `${(kb / 1000).toFixed(1)} MB` : `${kb.toFixed(kb < 10 ? 1 : 0)} KB`;
    const rate = (v: number) => (v >= 10 ? v.toFixed(0) : v.toFixed(1));
    const layers = cost.crossingLayers === 1 ? '1 layer\'s' : `${cost.crossingLayers} layers'`;
    return `≈ ${crossing} cross per token (${layers} queries, new keys and values, and outputs); at a full context decode ≈ ${rate(cost.decodeTokPerSec.cpu)} tok/s, against ${rate(cost.decodeTokPerSec.gpu)} with the full heads on the GPU`;
}

/** What a plan needs to know about a model: from its file, or from its published shape. */
interface ModelFacts {
    insights: GgufInsights;
    name: string;
    architecture: string;
    attention: ModelAttention;
    /** Query heads per layer (the first layer's where they vary): what crosses with the full heads. */
    queryHeads: number;
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

function firstCount(value: number | number[] | undefined): number {
    return (Array.isArray(value) ? value.find((v) => v > 0) : value) ?? 0;
}

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
                queryHeads: firstCount((info.architectureMetadata as { attention?: { head_count?: number | number[] } }).attention?.head_count),
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
        queryHeads: shape.heads,
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

/**
 * The plan for a request; `profile` (the head scores to plan with) must be for this model's shape.
 * `freed`: memory a load would give back before it allocates (the loaded model's), counted as free.
 */
export async function planMemory(llama: Llama, input: PlanInput, profile: HeadProfile | null = null, known?: ModelFacts, freed?: DeviceBytes): Promise<MemoryPlan> {
    const request = PlanRequest.parse(input);
    const facts = known ?? await modelFacts(llama, request.path);
    const { insights, name, architecture, attention } = facts;
    const machine = await machineOf(llama, freed);
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
    let offload: OffloadChoice | null = null;
    if (compressed && plannedHeads != null) {
        const inRamPlan = planFor('cpu');
        const cost = gpuAvailable && inRamPlan != null && facts.queryHeads > 0 ? offloadDecodeCost({
            plan: inRamPlan, weights: { gpu: weights.gpuVram, cpu: weights.cpuRam },
            onGpu: place('gpu').kv, inRam: place('cpu').kv,
            rates: decodeRatesFor(machine, llama.cpuMathCores),
            attention: { queryHeads: facts.queryHeads, kvHeads: attention.kvHeads, keyDim: attention.keyDim, valueDim: attention.valueDim },
        }) : null;
        offload = offloadChoice(request.kv.offload, placement, gpuAvailable, cost, place('gpu'), machine);
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
        offload,
    };
}

/** Where the plan keeps the full heads and why, in words, with what CPU RAM costs. */
function offloadChoice(asked: KvOptions['offload'], placement: Device, gpuAvailable: boolean, cost: OffloadCost | null, onGpu: { gpuBytes: number }, machine: Machine): OffloadChoice {
    if (!gpuAvailable) return { placement, why: 'no-gpu', note: 'Full heads are in CPU RAM: the model runs on the CPU.', cost };
    const price = cost == null ? '' : ` In CPU RAM: ${cost.summary}.`;
    if (asked !== 'auto') {
        return { placement, why: 'asked', note: `Full heads ${placement === 'cpu' ? 'in CPU RAM' : 'on the GPU'}, as set.${price}`, cost };
    }
    if (placement === 'cpu') {
        const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
        return {
            placement, why: 'moved', cost,
            note: `Full heads moved to CPU RAM automatically: with them on the GPU the model needs ${gib(onGpu.gpuBytes)} of GPU memory and ${gib(machine.vramFree)} is free.${price}`,
        };
    }
    return { placement, why: 'fits', note: `Full heads on the GPU: the model fits there, so 'auto' keeps them with the compute.${price}`, cost };
}

/**
 * "Fit to my machine": the largest context that fits (goal 'context'), or the least
 * compression, i.e. the largest budget, at the chosen context (goal 'compression').
 */
export async function fitToMachine(llama: Llama, input: PlanInput, goal: FitGoal, profile: HeadProfile | null = null, known?: ModelFacts, freed?: DeviceBytes): Promise<FitResult> {
    const request = PlanRequest.parse(input);
    const facts = known ?? await modelFacts(llama, request.path);
    const planAt = (planned: PlanInput) => planMemory(llama, planned, profile, facts, freed);
    if (goal === 'context') {
        const most = Math.max(256, Math.min(MAX_CONTEXT_TOKENS, facts.insights.trainContextSize ?? MAX_CONTEXT_TOKENS));
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

/** memory.plan: what a model needs at these settings, and whether this machine has it (`freed` counted as free). */
export const plan = (input: PlanInput, freed?: DeviceBytes) => planned(input, (llama, profile) => planMemory(llama, input, profile, undefined, freed));

/** memory.fit: the largest context, or the least compression, that fits this machine (`freed` counted as free). */
export const fit = (input: PlanInput, goal: FitGoal, freed?: DeviceBytes) => planned(input, (llama, profile) => fitToMachine(llama, input, goal, profile, undefined, freed));

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
