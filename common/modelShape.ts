// The model's KV cache geometry, in one place: read from a GGUF's attention metadata, sized
// for each cache type, and the architectures whose heads our llama.cpp build can split.
import { z } from 'zod';

export const KvCacheType = z.enum(['f16', 'q8_0', 'q4_0']);
export type KvCacheType = z.infer<typeof KvCacheType>;

/**
 * How llama.cpp stores each cache type: values in blocks of `block`, `blockBytes` a block
 * (q8_0: an f16 scale and 32 int8; q4_0: an f16 scale and 32 4-bit values). `ggml` is the
 * type's name in ggml and node-llama-cpp.
 */
export const KV_CACHE_TYPES: Record<KvCacheType, { ggml: 'F16' | 'Q8_0' | 'Q4_0'; block: number; blockBytes: number }> = {
    f16: { ggml: 'F16', block: 1, blockBytes: 2 },
    q8_0: { ggml: 'Q8_0', block: 32, blockBytes: 34 },
    q4_0: { ggml: 'Q4_0', block: 32, blockBytes: 18 },
};

/** llama.cpp quantizes the V cache only with flash attention on. */
export const isQuantized = (type: KvCacheType) => KV_CACHE_TYPES[type].block > 1;

/** The one rule between cache type and flash attention, in the words every place says it; null when they go together. */
export function quantizedCacheRefusal(type: KvCacheType, flashAttention: 'auto' | 'on' | 'off'): string | null {
    return isQuantized(type) && flashAttention === 'off' ? `A ${type} cache needs flash attention (set it to auto or on).` : null;
}

/**
 * Architectures whose graph the head-level cache splits, each proven by test/kvArchitectures.test.ts
 * (the cache is made wherever llama.cpp builds the standard attention: native/patches/0001).
 */
export const HEADWISE_ARCHITECTURES: ReadonlySet<string> = new Set(['llama', 'qwen2', 'qwen3', 'qwen3moe', 'mistral3', 'phi3', 'gemma2', 'gemma3']);

/** Why the head-level cache cannot split some well-known architectures (the native cache refuses them too). */
const UNSUPPORTED_ARCHITECTURES: Readonly<Record<string, string>> = {
    'gpt-oss': 'its attention has learned sinks',
    deepseek2: 'it uses multi-head latent attention (MLA)',
    deepseek3: 'it uses multi-head latent attention (MLA)',
    glm4moe: 'it predicts several tokens at once (MTP layers)',
    gemma3n: 'its layers share other layers\' KV',
    qwen3next: 'most of its layers are recurrent, not attention',
    qwen35: 'most of its layers are recurrent, not attention',
    mamba: 'it has no attention layers',
    mamba2: 'it has no attention layers',
    rwkv6: 'it has no attention layers',
    rwkv7: 'it has no attention layers',
    // the native cache refuses these too (llama_kv_cache_headwise::supports): the split renumbers heads
    mpt: 'its attention uses ALiBi position biases, whose slope comes from a head\'s index',
    bloom: 'its attention uses ALiBi position biases, whose slope comes from a head\'s index',
    jais: 'its attention uses ALiBi position biases, whose slope comes from a head\'s index',
    t5: 'its attention adds a relative position bias per head',
};

/** Whether head-level compression runs for an architecture, and why not in plain words. */
export function headwiseSupport(architecture: string): { supported: boolean; reason: string | null } {
    if (HEADWISE_ARCHITECTURES.has(architecture)) return { supported: true, reason: null };
    const why = UNSUPPORTED_ARCHITECTURES[architecture];
    return {
        supported: false,
        reason: why != null
            ? `Head-level KV compression does not support the ${architecture} architecture: ${why}. The full cache is used.`
            : `Head-level KV compression has not been tested on the ${architecture} architecture yet; the full cache is used.`,
    };
}

/** The cache's geometry: enough to compute its size for any head policy. */
export interface KvShape {
    layers: number;
    kvHeads: number;
    /** Bytes one token takes in one (layer, KV head): K and V together. */
    bytesPerHeadToken: number;
    /** Cells of a full head: the context size as llama.cpp pads it. */
    contextCells: number;
    /** Tokens llama.cpp evaluates at once; a streaming head needs room for one batch beyond its window. */
    ubatch: number;
    /**
     * windowLayers[layer]: the model attends the layer through a sliding window of its own (Gemma 2/3):
     * it keeps llama.cpp's window cache of windowCells cells per head, whatever a head plan says.
     */
    windowLayers?: readonly boolean[];
    windowCells?: number;
    /** The window layers' cells in the head-level cache: room for the window kept before the prompt's end too. */
    headwiseWindowCells?: number;
    /** What llama.cpp pads a streaming head's cells to on the device holding them (STREAMING_CELL_PADDING by default). */
    streamingCellPadding?: number;
}

/** The subset of node-llama-cpp's architecture metadata that the shape depends on. */
export interface AttentionMetadata {
    block_count?: number;
    embedding_length?: number;
    context_length?: number;
    attention?: {
        head_count?: number | number[];
        head_count_kv?: number | number[];
        key_length?: number;
        value_length?: number;
        sliding_window?: number;
        /** GGUF: a layer period, or one flag per layer (node-llama-cpp may read the flags as 0/1). */
        sliding_window_pattern?: number | readonly (number | boolean)[];
    };
}

export interface ModelAttention {
    layers: number;
    kvHeads: number;
    keyDim: number;
    valueDim: number;
    /** The sliding window the GGUF declares, as node-llama-cpp reads it (it then evaluates a batch one token larger); null: none. */
    slidingWindow: number | null;
    /** The layers llama.cpp attends through that window with a cache of their own; empty when none. */
    windowLayers: boolean[];
    /** The window those layers keep, in tokens (0 when none). */
    layerWindow: number;
}

/**
 * The architectures whose llama.cpp graph gives some layers a window cache of their own, and how it
 * picks them (src/models/<arch>.cpp): every layer but the last of each `pattern`, unless the GGUF
 * lists them (sliding_window_pattern). phi3 declares a window that llama.cpp ignores.
 */
const WINDOW_LAYOUTS: Readonly<Record<string, { pattern: number; defaultWindow?: number }>> = {
    gemma2: { pattern: 2, defaultWindow: 4096 },
    gemma3: { pattern: 6 },
};

const first = (value: number | number[] | undefined) => (Array.isArray(value) ? value[0] : value);

function windowLayersOf(architecture: string, metadata: AttentionMetadata, layers: number): { window: number; layers: boolean[] } {
    const layout = WINDOW_LAYOUTS[architecture];
    const window = metadata.attention?.sliding_window ?? layout?.defaultWindow ?? 0;
    if (layout == null || window <= 0) return { window: 0, layers: [] };
    const pattern = metadata.attention?.sliding_window_pattern;
    if (Array.isArray(pattern)) return { window, layers: Array.from({ length: layers }, (_, il) => Boolean(pattern[il])) };
    const every = typeof pattern === 'number' ? pattern : layout.pattern;
    return { window, layers: Array.from({ length: layers }, (_, il) => every === 0 || il % every < every - 1) };
}

export function attentionOf(metadata: AttentionMetadata, architecture = ''): ModelAttention {
    const layers = metadata.block_count ?? 0;
    const heads = first(metadata.attention?.head_count) ?? 0;
    const kvHeads = first(metadata.attention?.head_count_kv) ?? heads;
    const headDim = heads > 0 ? Math.floor((metadata.embedding_length ?? 0) / heads) : 0;
    const declared = metadata.attention?.sliding_window ?? 0;
    // node-llama-cpp's rule (GgufInsights.swaSize): a window as long as the training context is none
    const slidingWindow = declared > 0 && declared < (metadata.context_length ?? Infinity) ? declared : null;
    const window = windowLayersOf(architecture, metadata, layers);
    return {
        layers,
        kvHeads,
        keyDim: metadata.attention?.key_length ?? headDim,
        valueDim: metadata.attention?.value_length ?? headDim,
        slidingWindow,
        windowLayers: window.layers,
        layerWindow: window.window,
    };
}

/** Tokens llama.cpp evaluates at once for a context of this batch size: node-llama-cpp adds one for models with a sliding window. */
export function ubatchFor(attention: Pick<ModelAttention, 'slidingWindow'>, batchSize: number): number {
    return batchSize + (attention.slidingWindow != null ? 1 : 0);
}

/** llama.cpp pads a window cache to 256 cells (llama_kv_cache_iswa, and the head-level cache's window layers). */
const WINDOW_CACHE_PADDING = 256;

/** A quantized cache stores a head's rows in whole blocks. */
export function supportsKvCacheType(attention: Pick<ModelAttention, 'keyDim' | 'valueDim'>, type: KvCacheType): boolean {
    const { block } = KV_CACHE_TYPES[type];
    return attention.keyDim % block === 0 && attention.valueDim % block === 0;
}

/** Why a model cannot use a cache type, in plain words; null when it can. */
export function kvCacheTypeRefusal(attention: Pick<ModelAttention, 'keyDim' | 'valueDim'>, type: KvCacheType, modelName = 'This model'): string | null {
    if (supportsKvCacheType(attention, type)) return null;
    const { block } = KV_CACHE_TYPES[type];
    return `${modelName}'s attention heads are ${attention.keyDim} values wide, and a ${type} cache stores values in blocks of ${block}: it cannot be quantized. Use the f16 cache.`;
}

/**
 * The cache of a context of `contextCells` cells evaluated `batchSize` tokens at a time (the batch
 * as node-llama-cpp is given it; for models with a sliding window it evaluates one more).
 */
export function kvShapeOf(attention: ModelAttention, options: { contextCells: number; batchSize: number; cacheType: KvCacheType }): KvShape {
    const { block, blockBytes } = KV_CACHE_TYPES[options.cacheType];
    const ubatch = ubatchFor(attention, options.batchSize);
    const shape: KvShape = {
        layers: attention.layers,
        kvHeads: attention.kvHeads,
        bytesPerHeadToken: ((attention.keyDim + attention.valueDim) / block) * blockBytes,
        contextCells: options.contextCells,
        ubatch,
    };
    if (attention.windowLayers.some(Boolean)) {
        shape.windowLayers = attention.windowLayers;
        const padded = (cells: number) => Math.min(options.contextCells, Math.ceil(cells / WINDOW_CACHE_PADDING) * WINDOW_CACHE_PADDING);
        shape.windowCells = padded(attention.layerWindow + ubatch);
        // the head-level cache keeps the window before the prompt's end as well (native/patches/0001, n_window_cells)
        shape.headwiseWindowCells = padded(Math.max(attention.layerWindow + ubatch, 2 * attention.layerWindow + 1));
    }
    return shape;
}

/** The model's attention as a GGUF's metadata (node-llama-cpp's fileInfo.metadata) describes it. */
export function attentionFromMetadata(metadata: Record<string, unknown>): ModelAttention & { architecture: string } {
    const architecture = String((metadata.general as { architecture?: string } | undefined)?.architecture ?? '');
    return { architecture, ...attentionOf((metadata[architecture] ?? {}), architecture) };
}

/** The KV geometry of a GGUF's model: null when the metadata does not describe plain attention heads. */
export function kvShapeFromMetadata(metadata: Record<string, unknown>, contextCells: number, batchSize: number, cacheType: KvCacheType = 'f16'): KvShape | null {
    const attention = attentionFromMetadata(metadata);
    if (![attention.layers, attention.kvHeads, attention.keyDim, attention.valueDim].every((v) => Number.isInteger(v) && v > 0)) return null;
    return kvShapeOf(attention, { contextCells, batchSize, cacheType });
}

/** Whether the model attends a layer through its own window cache. */
export const isWindowLayer = (shape: Pick<KvShape, 'windowLayers'>, layer: number) => shape.windowLayers?.[layer] === true;

/** node-llama-cpp pads the context size to 256 cells, as llama.cpp allocates it. */
export const CONTEXT_PADDING = 256;
export const contextCellsFor = (contextSize: number) => Math.ceil(contextSize / CONTEXT_PADDING) * CONTEXT_PADDING;
