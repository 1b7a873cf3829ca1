// The KV cache's geometry read from a GGUF's metadata: what policy.ts needs to size it.
import type { KvShape } from './kv/policy.ts';

export const KvCacheType = ['f16', 'q8_0'] as const;
export type KvCacheType = (typeof KvCacheType)[number];

/** Bytes per element: f16 is 2; q8_0 packs 32 values into 34 bytes (a scale and 32 int8). */
const ELEMENT_BYTES: Record<KvCacheType, number> = { f16: 2, q8_0: 34 / 32 };
const Q8_BLOCK = 32;

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

/** llama.cpp quantizes the cache in 32-value blocks, so a head's rows must be whole blocks. */
export function supportsKvCacheType(attention: ModelAttention, type: KvCacheType): boolean {
    return type === 'f16' || (attention.keyDim % Q8_BLOCK === 0 && attention.valueDim % Q8_BLOCK === 0);
}

export function kvShapeOf(attention: ModelAttention, options: { contextCells: number; ubatch: number; cacheType: KvCacheType }): KvShape {
    return {
        layers: attention.layers,
        kvHeads: attention.kvHeads,
        bytesPerHeadToken: (attention.keyDim + attention.valueDim) * ELEMENT_BYTES[options.cacheType],
        contextCells: options.contextCells,
        ubatch: options.ubatch,
    };
}

/** node-llama-cpp pads the context size to 256 cells, as llama.cpp allocates it. */
export const CONTEXT_PADDING = 256;
export const contextCellsFor = (contextSize: number) => Math.ceil(contextSize / CONTEXT_PADDING) * CONTEXT_PADDING;
