// Predicts a model's memory before it is loaded: weights and compute buffers from
// node-llama-cpp's resource estimation (it simulates llama.cpp's allocations), the KV cache
// from policy.ts with the model's real shape. Runs where node-llama-cpp lives (engine host, CLI).
import { stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { GgufInsights, Llama } from 'node-llama-cpp';
import { planForBudget, type HeadPlan, type HeadProfile, type KvPlacement } from '../common/kv/policy.ts';
import { AUTO_BUDGET_WITHOUT_PROFILE, COMPRESSED_UBATCH, fallbackScores } from './kv/resolve.ts';
import { kvUsageFromFormula } from '../common/kv/usage.ts';
import { attentionOf, contextCellsFor, KvCacheType, kvShapeOf, supportsKvCacheType, type AttentionMetadata } from '../common/modelShape.ts';
import { PlanRequest, type FitResult, type Machine, type MemoryPlan, type PlanInput } from '../common/plan.ts';

/** Tokens llama.cpp evaluates at once by default; a streaming head keeps room for one batch. */
export const DEFAULT_UBATCH = 512;
/** Leave this much of free memory for the OS, the window and drivers. */
const HEADROOM_FRACTION = 0.9;

export async function machineOf(llama: Llama): Promise<Machine> {
    const vram = llama.gpu === false ? { total: 0, free: 0 } : await llama.getVramState();
    return { gpu: llama.gpu, vramTotal: vram.total, vramFree: vram.free, ramTotal: os.totalmem(), ramFree: os.freemem() };
}

interface ModelFacts {
    insights: GgufInsights;
    name: string;
    metadata: AttentionMetadata;
}

const factsCache = new Map<string, Promise<ModelFacts>>();

async function modelFacts(llama: Llama, modelPath: string): Promise<ModelFacts> {
    // Keyed by size and time too: a file replaced at the same path is read again.
    const file = await stat(modelPath);
    const key = `${modelPath}:${file.size}:${file.mtimeMs}`;
    let facts = factsCache.get(key);
    if (facts == null) {
        facts = (async () => {
            const { readGgufFileInfo, GgufInsights } = await import('node-llama-cpp');
            const info = await readGgufFileInfo(modelPath);
            const insights = await GgufInsights.from(info, llama);
            return { insights, name: info.metadata.general?.name ?? path.basename(modelPath, '.gguf'), metadata: info.architectureMetadata as AttentionMetadata };
        })();
        factsCache.set(key, facts);
        facts.catch(() => factsCache.delete(key));
    }
    return facts;
}

export async function planMemory(llama: Llama, input: PlanInput, profile: HeadProfile | null = null): Promise<MemoryPlan> {
    const request = PlanRequest.parse(input);
    const { insights, name, metadata } = await modelFacts(llama, request.path);
    const machine = await machineOf(llama);
    const notes: string[] = [];
    const attention = attentionOf(metadata);
    const layers = insights.totalLayers;
    let gpuLayers = 0;
    if (llama.gpu !== false && request.gpuLayers === 'auto') {
        const resolved = await insights.configurationResolver.resolveModelGpuLayersV2('auto', { defaultContextFlashAttention: flashAttentionOption(request.flashAttention) });
        gpuLayers = typeof resolved === 'number' ? resolved : resolved.gpuLayers;
    } else if (llama.gpu !== false && request.gpuLayers !== 'auto') {
        gpuLayers = Math.min(request.gpuLayers, layers);
    }
    if (llama.gpu === false && request.gpuLayers !== 'auto' && request.gpuLayers > 0) notes.push('No GPU on this machine: every layer runs on the CPU.');
    const kvCacheTypes = KvCacheType.filter((type) => supportsKvCacheType(attention, type));
    let cacheType = request.kvCacheType;
    if (!kvCacheTypes.includes(cacheType)) {
        notes.push(`This model's heads (${attention.keyDim} values) cannot use a ${cacheType} cache; planned with f16.`);
        cacheType = 'f16';
    }

    if (profile != null && (profile.layers !== attention.layers || profile.kvHeads !== attention.kvHeads)) {
        notes.push(`The head profile is for ${profile.layers} layers × ${profile.kvHeads} KV heads, not this model's ${attention.layers} × ${attention.kvHeads}: ignored.`);
        profile = null;
    }
    const budget = request.kv.mode === 'budget' ? request.kv.budget ?? 1 : request.kv.mode === 'auto' ? profile?.recommendedBudget ?? AUTO_BUDGET_WITHOUT_PROFILE : null;
    if (request.kv.mode === 'auto' && profile == null) notes.push(`No head profile for this model yet: "auto" compression is planned at ${AUTO_BUDGET_WITHOUT_PROFILE * 100}% of the cache.`);
    const contextCells = contextCellsFor(request.contextSize);
    // The engine runs compressed contexts with smaller batches: a streaming head holds one beyond its window.
    const ubatch = Math.min(budget == null ? DEFAULT_UBATCH : COMPRESSED_UBATCH, contextCells);
    const shape = kvShapeOf(attention, { contextCells, ubatch, cacheType });
    const attentionLayersOnGpu = Math.min(gpuLayers, attention.layers);
    const stock = kvUsageFromFormula(shape, null, { gpuLayers: attentionLayersOnGpu, profile });

    const weights = await insights.estimateModelResourceRequirementsV2({ gpuLayers });
    const { GgmlType } = await import('node-llama-cpp');
    const ggmlCacheType = cacheType === 'q8_0' ? GgmlType.Q8_0 : GgmlType.F16;
    const withContext = await insights.estimateContextResourceRequirementsV2({
        contextSize: contextCells, modelGpuLayers: gpuLayers, batchSize: ubatch, sequences: 1,
        flashAttention: flashAttentionOption(request.flashAttention), kvCacheKeyType: ggmlCacheType, kvCacheValueType: ggmlCacheType,
    });
    // node-llama-cpp's estimate holds the stock cache plus the compute buffers: keep the latter.
    const computeBytes = { gpu: Math.max(0, withContext.gpuVram - stock.gpu), cpu: Math.max(0, withContext.cpuRam - stock.cpu) };

    const planFor = (fullPlacement: KvPlacement): HeadPlan | null => budget == null
        ? null
        : planForBudget(shape, profile?.scores ?? fallbackScores(shape), budget, { sinks: request.kv.sinks, window: request.kv.window, fullPlacement });

    const gpuAvailable = llama.gpu !== false && gpuLayers > 0;
    const place = (placement: KvPlacement) => {
        const kv = budget == null ? stock : kvUsageFromFormula(shape, planFor(placement), { gpuLayers: attentionLayersOnGpu, profile });
        const gpuBytes = weights.gpuVram + kv.gpu + computeBytes.gpu;
        const cpuBytes = weights.cpuRam + kv.cpu + computeBytes.cpu;
        const gpuFits = gpuBytes === 0 || gpuBytes <= machine.vramFree * HEADROOM_FRACTION;
        const cpuFits = cpuBytes <= machine.ramFree * HEADROOM_FRACTION;
        return { kv, gpuBytes, cpuBytes, gpuFits, cpuFits };
    };
    let placement: KvPlacement = request.kv.offload === 'cpu' || !gpuAvailable ? 'cpu' : 'gpu';
    if (request.kv.offload === 'gpu' && !gpuAvailable && budget != null) notes.push('KV offload "GPU" needs a GPU with layers on it: full heads are planned in CPU RAM.');
    let result = place(placement);
    if (request.kv.offload === 'auto' && placement === 'gpu' && !result.gpuFits) {
        placement = 'cpu';
        result = place(placement);
    }
    const spare = `Headroom leaves ${Math.round((1 - HEADROOM_FRACTION) * 100)}% spare`;
    if (!result.gpuFits) notes.push(`Needs ${gib(result.gpuBytes)} of GPU memory; ${gib(machine.vramFree)} is free (${spare}).`);
    if (!result.cpuFits) notes.push(`Needs ${gib(result.cpuBytes)} of RAM; ${gib(machine.ramFree)} is free (${spare}).`);
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
export async function fitToMachine(llama: Llama, input: PlanInput, goal: 'context' | 'compression', profile: HeadProfile | null = null): Promise<FitResult> {
    const request = PlanRequest.parse(input);
    if (goal === 'context') {
        const { insights } = await modelFacts(llama, request.path);
        const most = Math.max(256, Math.min(1 << 20, insights.trainContextSize ?? 1 << 20));
        const fits = async (contextSize: number) => (await planMemory(llama, { ...request, contextSize }, profile)).predicted.fits;
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
        return { request: fitted, plan: await planMemory(llama, fitted, profile), message: `The largest context that fits is ${(low * 256).toLocaleString('en-US')} tokens${capped}.` };
    }
    const atBudget = (budget: number) => ({ ...request, kv: { ...request.kv, mode: 'budget' as const, budget } });
    const stock = await planMemory(llama, { ...request, kv: { ...request.kv, mode: 'off' } }, profile);
    if (stock.predicted.fits) return { request: { ...request, kv: { ...request.kv, mode: 'off' } }, plan: stock, message: 'The full cache fits: no compression needed.' };
    // Budgets in 1% steps, from most to least compression (100% would be the stock cache,
    // which did not fit; only its smaller compressed batches could make it look otherwise).
    let low = 1;
    let high = 99;
    if (!(await planMemory(llama, atBudget(0.01), profile)).predicted.fits) {
        return { request: null, plan: null, message: 'Even the strongest compression does not fit: choose a shorter context or a smaller model.' };
    }
    while (low < high) {
        const mid = Math.ceil((low + high) / 2);
        if ((await planMemory(llama, atBudget(mid / 100), profile)).predicted.fits) low = mid;
        else high = mid - 1;
    }
    const fitted = atBudget(low / 100);
    return { request: fitted, plan: await planMemory(llama, fitted, profile), message: `The least compression that fits keeps ${low}% of the cache.` };
}

export function flashAttentionOption(setting: 'auto' | 'on' | 'off'): 'auto' | boolean {
    return setting === 'auto' ? 'auto' : setting === 'on';
}

function gib(bytes: number): string {
    return bytes >= 1 << 30 ? `${(bytes / (1 << 30)).toFixed(1)} GiB` : `${(bytes / (1 << 20)).toFixed(0)} MiB`;
}
