// The model's KV cache geometry, in one place: read from a GGUF's attention metadata, sized
// for each cache type, and the architectures whose heads our llama.cpp build can split.
import { z } from 'zod';

export const KvCacheType = z.enum(['f16', 'q8_0']);
export type KvCacheType = z.infer<typeof KvCacheType>;

/**
 * How llama.cpp stores each cache type: values in blocks of `block`, `blockBytes` a block
 * (q8_0: a scale and 32 int8). `ggml` is the type's name in ggml and node-llama-cpp.
 */
export const KV_CACHE_TYPES: Record<KvCacheType, { ggml: 'F16' | 'Q8_0'; block: number; blockBytes: number }> = {
    f16: { ggml: 'F16', block: 1, blockBytes: 2 },
    q8_0: { ggml: 'Q8_0', block: 32, blockBytes: 34 },
};

/** llama.cpp quantizes the V cache only with flash attention on. */
export const isQuantized = (type: KvCacheType) => KV_CACHE_TYPES[type].block > 1;

/** Architectures whose llama.cpp graph builder splits attention by head (see native/patches). */
export const HEADWISE_ARCHITECTURES: ReadonlySet<string> = new Set(['llama']);

/** The cache's geometry: enough to compute its size for any head policy. */
export interface KvShape {
    layers: number;
    kvHeads: number;
    /** Bytes one token takes in one (layer, KV head): K and V together. */
    bytesPerHeadToken: number;
    /** Cells of a full head: the context size as llama.cpp pads it. */
    contextCells: number;
    /** Tokens evaluated at once; a streaming head needs room for one batch beyond its window. */
    ubatch: number;
}

/** The subset of node-llama-cpp's architecture metadata that the shape depends on. */
export interface AttentionMetadata {
    block_count?: number;
    embedding_length?: number;
    attention?: { head_count?: number | number[]; head_count_kv?: number | number[]; key_length?: number; value_length?: number };
}

export interface ModelAttention {
    layers: number;
    kvHeads: number;
    keyDim: number;
    valueDim: number;
}

const first = (value: number | number[] | undefined) => (Array.isArray(value) ? value[0] : value);

export function attentionOf(metadata: AttentionMetadata): ModelAttention {
    const layers = metadata.block_count ?? 0;
    const heads = first(metadata.attention?.head_count) ?? 0;
    const kvHeads = first(metadata.attention?.head_count_kv) ?? heads;
    const headDim = heads > 0 ? Math.floor((metadata.embedding_length ?? 0) / heads) : 0;
    return {
        layers,
        kvHeads,
        keyDim: metadata.attention?.key_length ?? headDim,
        valueDim: metadata.attention?.value_length ?? headDim,
    };
}

/** A quantized cache stores a head's rows in whole blocks. */
export function supportsKvCacheType(attention: ModelAttention, type: KvCacheType): boolean {
    const { block } = KV_CACHE_TYPES[type];
    return attention.keyDim % block === 0 && attention.valueDim % block === 0;
}

export function kvShapeOf(attention: ModelAttention, options: { contextCells: number; ubatch: number; cacheType: KvCacheType }): KvShape {
    const { block, blockBytes } = KV_CACHE_TYPES[options.cacheType];
    return {
        layers: attention.layers,
        kvHeads: attention.kvHeads,
        bytesPerHeadToken: ((attention.keyDim + attention.valueDim) / block) * blockBytes,
        contextCells: options.contextCells,
        ubatch: options.ubatch,
    };
}

/** The KV geometry of a GGUF's model: null when the metadata does not describe plain attention heads. */
export function kvShapeFromMetadata(metadata: Record<string, unknown>, contextCells: number, ubatch: number, cacheType: KvCacheType = 'f16'): KvShape | null {
    const arch = String((metadata.general as { architecture?: string } | undefined)?.architecture ?? '');
    const attention = attentionOf((metadata[arch] ?? {}));
    if (![attention.layers, attention.kvHeads, attention.keyDim, attention.valueDim].every((v) => Number.isInteger(v) && v > 0)) return null;
    return kvShapeOf(attention, { contextCells, ubatch, cacheType });
}

/** node-llama-cpp pads the context size to 256 cells, as llama.cpp allocates it. */
export const CONTEXT_PADDING = 256;
export const contextCellsFor = (contextSize: number) => Math.ceil(contextSize / CONTEXT_PADDING) * CONTEXT_PADDING;
