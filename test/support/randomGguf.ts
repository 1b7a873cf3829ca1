// Random-weight GGUFs with a real tokenizer, for mechanical tests (fast, any shape) and for
// benchmarks at realistic attention shapes (ATTENTION_SHAPES), in every architecture Headroom
// supports. The tokenizer comes verbatim from one of llama.cpp's vocab-only GGUFs, which
// node-llama-cpp ships inside its source bundle. Key and tensor names and shapes follow the
// llama.cpp that node-llama-cpp bundles: src/llama-arch.cpp (names), src/llama-model.cpp
// (common hparams) and src/models/<architecture>.cpp (what each architecture reads and loads).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const GGUF_MAGIC = 0x46554747; // "GGUF" read as little-endian u32
const GGUF_VERSION = 3;
const ALIGNMENT = 32;

// GGUF value types (gguf.h).
const T = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9, U64: 10, I64: 11, F64: 12 } as const;
const SCALAR_BYTES: Partial<Record<number, number>> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
// ggml tensor types.
const GGML_F32 = 0;
const GGML_F16 = 1;

/** The Llama 3 chat template as published with the model (text, not code we run). */
export const LLAMA3_CHAT_TEMPLATE = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

/** Read a GGUF's metadata as raw key → encoded entry, so entries can be copied exactly. */
export async function readRawMetadata(file: string): Promise<Map<string, Buffer>> {
    const data = await readFile(file);
    if (data.readUInt32LE(0) !== GGUF_MAGIC) throw new Error(`${file} is not a GGUF file`);
    const kvCount = Number(data.readBigUInt64LE(16));
    let offset = 24;
    const readString = () => {
        const length = Number(data.readBigUInt64LE(offset));
        const value = data.toString('utf8', offset + 8, offset + 8 + length);
        offset += 8 + length;
        return value;
    };
    const skipValue = (type: number): void => {
        if (type === T.STRING) {
            readString();
        } else if (type === T.ARRAY) {
            const elementType = data.readUInt32LE(offset);
            const count = Number(data.readBigUInt64LE(offset + 4));
            offset += 12;
            const elementBytes = SCALAR_BYTES[elementType];
            if (elementBytes != null) offset += elementBytes * count;
            else for (let i = 0; i < count; i++) skipValue(elementType);
        } else {
            offset += SCALAR_BYTES[type] ?? 0;
        }
    };
    const entries = new Map<string, Buffer>();
    for (let i = 0; i < kvCount; i++) {
        const start = offset;
        const key = readString();
        const type = data.readUInt32LE(offset);
        offset += 4;
        skipValue(type);
        entries.set(key, data.subarray(start, offset));
    }
    return entries;
}

function encodeString(value: string): Buffer {
    const bytes = Buffer.from(value, 'utf8');
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(bytes.length));
    return Buffer.concat([length, bytes]);
}

function entry(key: string, type: number, value: Buffer): Buffer {
    const typeBytes = Buffer.alloc(4);
    typeBytes.writeUInt32LE(type);
    return Buffer.concat([encodeString(key), typeBytes, value]);
}

const u32 = (key: string, value: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value);
    return entry(key, T.U32, b);
};
const f32 = (key: string, value: number) => {
    const b = Buffer.alloc(4);
    b.writeFloatLE(value);
    return entry(key, T.F32, b);
};
const str = (key: string, value: string) => entry(key, T.STRING, encodeString(value));

/** The architectures the writer knows, by their GGUF `general.architecture` name. */
export const ARCHITECTURES = ['llama', 'qwen2', 'qwen3', 'qwen3moe', 'mistral3', 'phi3', 'gemma2', 'gemma3', 'granite', 'mpt', 't5'] as const;
export type Architecture = typeof ARCHITECTURES[number];

/** The vocab-only GGUFs of llama.cpp's models/ folder that the writer uses. */
export type BundledVocab = 'llama-bpe' | 'llama-spm' | 'qwen2' | 'phi-3' | 'gemma-4';

/** What sets an architecture apart, as llama.cpp's src/models/<architecture>.cpp loads it. */
interface ArchitectureTraits {
    /** Default tokenizer: the family's own where llama.cpp ships it, else the closest one. */
    vocab: BundledVocab;
    /** Defaults as the family's published config.json has them (rope_theta, rms_norm_eps). */
    ropeFreqBase: number;
    rmsEps: number;
    /** Q and output projections are n_embd × n_embd, so the head dim is n_embd / n_head. */
    headDimIsEmbdPerHead?: boolean;
    qkvBias?: boolean;
    /** attn_qkv instead of attn_q/k/v. */
    fusedQkv?: boolean;
    /** ffn_up is [gate; up], 2 × n_ff wide, and there is no ffn_gate. */
    fusedGateUp?: boolean;
    /** RMS norm of each query and key head (attn_q_norm, attn_k_norm: head dim wide). */
    qkNorm?: boolean;
    /** post_attention_norm and post_ffw_norm after each block (Gemma's sandwich norms). */
    postNorms?: boolean;
    /** The output projection is token_embd; llama.cpp loads no output.weight. */
    tiedEmbeddings?: boolean;
    /** The FFN is a mixture of experts (and only that). */
    experts?: boolean;
    /**
     * How llama.cpp treats attention.sliding_window: `pattern` layers per period, all but the
     * last windowed (llama_hparams::set_swa_pattern); `ignored`: read but switched off
     * (Phi-3, see llama_model_phi3::load_arch_hparams); absent: not read at all.
     */
    slidingWindow?: { pattern: number; defaultSize?: number } | 'ignored';
    /** Gemma 2's tanh caps on attention and final logits (its config.json values). */
    softcapping?: { attention: number; final: number };
    /** Reads attention.temperature_scale (Llama-4-style query scaling by position). */
    temperatureScale?: boolean;
    /** Granite's logits are divided by this (logit_scale, a required key). */
    logitScale?: number;
    /** LayerNorm (attention.layer_norm_epsilon) instead of RMSNorm, no rope, and a plain FFN without a gate (MPT). */
    layerNormNoRope?: boolean;
    /** ALiBi position biases (attention.max_alibi_bias): a head's slope comes from its index. */
    alibiBias?: number;
    /** An encoder-decoder (T5): enc.blk / dec.blk tensors and a relative position bias added to KQ (kq_b). */
    encoderDecoder?: { relativeBuckets: number };
}

const TRAITS: Record<Architecture, ArchitectureTraits> = {
    // Llama 3: meta-llama/Meta-Llama-3-8B config.json.
    llama: { vocab: 'llama-bpe', ropeFreqBase: 500000, rmsEps: 1e-5 },
    // Qwen2.5: Qwen/Qwen2.5-7B-Instruct config.json.
    qwen2: { vocab: 'qwen2', ropeFreqBase: 1e6, rmsEps: 1e-6, headDimIsEmbdPerHead: true, qkvBias: true },
    // Qwen3 keeps Qwen2's tokenizer: Qwen/Qwen3-8B and Qwen/Qwen3-30B-A3B config.json.
    qwen3: { vocab: 'qwen2', ropeFreqBase: 1e6, rmsEps: 1e-6, qkNorm: true },
    qwen3moe: { vocab: 'qwen2', ropeFreqBase: 1e6, rmsEps: 1e-6, qkNorm: true, experts: true },
    // rms_norm_eps 1e-5 as in Mistral's configs; rope base 1e6 as Mistral Nemo's (Mistral Small
    // 3.1 has 1e9: pass ropeFreqBase). Their Tekken tokenizer is not in llama.cpp's models/;
    // Llama 3's is the closest (tiktoken-style BPE, 128K).
    mistral3: { vocab: 'llama-bpe', ropeFreqBase: 1e6, rmsEps: 1e-5, temperatureScale: true },
    // Phi-3-mini: rope_theta 10000, rms_norm_eps 1e-5.
    phi3: { vocab: 'phi-3', ropeFreqBase: 10000, rmsEps: 1e-5, headDimIsEmbdPerHead: true, fusedQkv: true, fusedGateUp: true, slidingWindow: 'ignored' },
    // Gemma 2 and 3 (google/gemma-2-9b, google/gemma-3-12b-it config.json). llama.cpp ships
    // Gemma 4's tokenizer, not theirs: same family and vocab size (262,144) as Gemma 3's.
    gemma2: {
        vocab: 'gemma-4', ropeFreqBase: 10000, rmsEps: 1e-6, postNorms: true, tiedEmbeddings: true,
        slidingWindow: { pattern: 2, defaultSize: 4096 }, softcapping: { attention: 50, final: 30 },
    },
    gemma3: {
        vocab: 'gemma-4', ropeFreqBase: 1e6, rmsEps: 1e-6, qkNorm: true, postNorms: true, tiedEmbeddings: true,
        slidingWindow: { pattern: 6 },
    },
    // IBM Granite 3 (ibm-granite/granite-3.1-8b-instruct config.json: logits_scaling 16): llama's tensors.
    granite: { vocab: 'llama-bpe', ropeFreqBase: 10000, rmsEps: 1e-5, logitScale: 16 },
    // Architectures the head-level cache refuses, for the tests that it says why: MPT (mosaicml/mpt-7b:
    // ALiBi with max bias 8, layer_norm_epsilon 1e-5) and T5 (google/flan-t5-base: 32 relative buckets).
    mpt: { vocab: 'llama-bpe', ropeFreqBase: 10000, rmsEps: 1e-5, fusedQkv: true, tiedEmbeddings: true, layerNormNoRope: true, alibiBias: 8 },
    t5: { vocab: 'llama-spm', ropeFreqBase: 10000, rmsEps: 1e-6, tiedEmbeddings: true, encoderDecoder: { relativeBuckets: 32 } },
};

/** The default tokenizer of an architecture (see TRAITS). */
export function vocabFor(architecture: Architecture): BundledVocab {
    return TRAITS[architecture].vocab;
}

export type RopeScaling =
    | { type: 'linear'; factor: number }
    /** YaRN from originalContextLength to contextLength (factor: their ratio unless given). */
    | { type: 'yarn'; originalContextLength: number; factor?: number; betaFast?: number; betaSlow?: number; logMultiplier?: number };

export interface RandomGgufOptions {
    architecture: Architecture;
    outPath: string;
    /** A vocab-only GGUF: its tokenizer.* entries are copied as they are. Default: `vocab`'s, else the architecture's (vocabFor). */
    vocabPath?: string;
    /** The bundled tokenizer to use where no vocabPath is given (an attention shape's own, when its model's differs from its family's). */
    vocab?: BundledVocab;
    nLayer: number;
    nEmbd: number;
    nHead: number;
    nHeadKv: number;
    /** Key and value head dim (attention.key_length = value_length); default nEmbd / nHead. */
    headDim?: number;
    /** FFN width (MoE models: the dense width their config carries; llama.cpp does not use it). */
    nFf: number;
    /** Mixture of experts (qwen3moe): the router and stacked expert FFN tensors. */
    experts?: { count: number; used: number; feedForwardLength: number };
    contextLength: number;
    ropeFreqBase?: number;
    ropeScaling?: RopeScaling;
    /** Sliding-window attention width in tokens (phi3, gemma2, gemma3). */
    slidingWindow?: number;
    /** Window-layer period (gemma2, gemma3): all but the last layer of each period are windowed. */
    slidingWindowPattern?: number;
    /** mistral3: attention.temperature_scale (Llama 4's beta); positions are floored by the rope's original context length. */
    attentionTemperatureScale?: number;
    /** A Jinja chat template; null writes none; undefined keeps the vocab file's own. */
    chatTemplate?: string | null;
    tensorType?: 'f32' | 'f16';
    seed?: number;
    name?: string;
    /** Compute the file size without writing anything. */
    dryRun?: boolean;
}

/** The llama architecture's options (writeRandomLlamaGguf), as before the writer knew others. */
export type RandomLlamaOptions = Omit<RandomGgufOptions, 'architecture'>;

interface TensorSpec {
    name: string;
    dims: number[]; // ggml order: ne0 first (the row length)
    type: number;
    /** 'one' for norm weights, otherwise uniform noise of this half-width. */
    fill: 'one' | number;
}

function tensorBytes(spec: TensorSpec): number {
    return spec.dims.reduce((a, b) => a * b, 1) * (spec.type === GGML_F16 ? 2 : 4);
}

const align = (n: number) => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

/** The head dim an options object asks for, checked against what its architecture allows. */
function headDimOf(options: Pick<RandomGgufOptions, 'architecture' | 'nEmbd' | 'nHead' | 'nHeadKv' | 'headDim'>): number {
    const { architecture, nEmbd, nHead, nHeadKv } = options;
    if (nHead % nHeadKv !== 0) throw new Error('nHead must divide by nHeadKv');
    if (options.headDim == null && nEmbd % nHead !== 0) throw new Error('nEmbd must divide by nHead unless headDim is given');
    const headDim = options.headDim ?? nEmbd / nHead;
    if (TRAITS[architecture].headDimIsEmbdPerHead && headDim * nHead !== nEmbd) {
        throw new Error(`${architecture}: the head dim is nEmbd / nHead (its Q projection is nEmbd wide)`);
    }
    return headDim;
}

/**
 * Which layers llama.cpp runs with the sliding window for these options (true = windowed): in
 * each period of `pattern` layers all but the last (llama_hparams::set_swa_pattern), none
 * where the architecture has no window or ignores it.
 */
export function slidingWindowLayers(options: Pick<RandomGgufOptions, 'architecture' | 'nLayer' | 'slidingWindow' | 'slidingWindowPattern'>): boolean[] {
    const window = TRAITS[options.architecture].slidingWindow;
    const size = options.slidingWindow ?? (typeof window === 'object' ? window.defaultSize : undefined);
    if (typeof window !== 'object' || size == null || size === 0) return Array<boolean>(options.nLayer).fill(false);
    const pattern = options.slidingWindowPattern ?? window.pattern;
    return Array.from({ length: options.nLayer }, (_, il) => pattern === 0 || il % pattern < pattern - 1);
}

function checkOptions(options: RandomGgufOptions): void {
    const traits = TRAITS[options.architecture];
    if (traits == null) throw new Error(`unknown architecture ${options.architecture}; known: ${ARCHITECTURES.join(', ')}`);
    const refuse = (what: string) => { throw new Error(`${options.architecture} has no ${what}`); };
    if (traits.experts && options.experts == null) throw new Error(`${options.architecture} needs experts`);
    if (!traits.experts && options.experts != null) refuse('experts');
    if (options.experts != null && !(options.experts.used > 0 && options.experts.used <= options.experts.count)) {
        throw new Error('experts.used must be between 1 and experts.count');
    }
    if (traits.slidingWindow == null && options.slidingWindow != null) refuse('sliding window');
    if (typeof traits.slidingWindow !== 'object' && options.slidingWindowPattern != null) refuse('sliding-window layer pattern');
    if (!traits.temperatureScale && options.attentionTemperatureScale != null) refuse('attention temperature scale');
}

/** The tensors llama.cpp loads for these options, in file order. */
function tensorSpecs(options: RandomGgufOptions, nVocab: number, weightType: number): TensorSpec[] {
    const traits = TRAITS[options.architecture];
    const { nLayer, nEmbd, nHead, nHeadKv, nFf } = options;
    const headDim = headDimOf(options);
    const nQ = headDim * nHead;
    const nKv = headDim * nHeadKv;
    // Small uniform noise (std ≈ 0.02, as at initialisation) keeps activations finite.
    const w = 0.035;
    // As convert_hf_to_gguf.py stores them: 1-D tensors (norms, biases) and the MoE router in F32.
    const weight = (name: string, dims: number[]): TensorSpec => ({ name, dims, type: weightType, fill: w });
    const vector = (name: string, length: number): TensorSpec => ({ name, dims: [length], type: GGML_F32, fill: w });
    const norm = (name: string, length: number): TensorSpec => ({ name, dims: [length], type: GGML_F32, fill: 'one' });

    if (traits.encoderDecoder != null) {
        // T5: an encoder and a decoder stack; the first layer of each holds the relative position bias
        const buckets = traits.encoderDecoder.relativeBuckets;
        const stack = (prefix: 'enc' | 'dec') => Array.from({ length: nLayer }, (_, i) => {
            const blk = `${prefix}.blk.${i}`;
            const attention = (kind: 'attn' | 'cross_attn') => [
                norm(`${blk}.${kind}_norm.weight`, nEmbd),
                ...(i === 0 ? [weight(`${blk}.${kind}_rel_b.weight`, [nHead, buckets])] : []),
                weight(`${blk}.${kind}_q.weight`, [nEmbd, nQ]), weight(`${blk}.${kind}_k.weight`, [nEmbd, nKv]),
                weight(`${blk}.${kind}_v.weight`, [nEmbd, nKv]), weight(`${blk}.${kind}_o.weight`, [nKv, nEmbd]),
            ];
            return [
                ...attention('attn'),
                ...(prefix === 'dec' ? attention('cross_attn') : []),
                norm(`${blk}.ffn_norm.weight`, nEmbd), weight(`${blk}.ffn_up.weight`, [nEmbd, nFf]), weight(`${blk}.ffn_down.weight`, [nFf, nEmbd]),
            ];
        }).flat();
        return [weight('token_embd.weight', [nEmbd, nVocab]), norm('enc.output_norm.weight', nEmbd), norm('dec.output_norm.weight', nEmbd), ...stack('enc'), ...stack('dec')];
    }
    const tensors: TensorSpec[] = [weight('token_embd.weight', [nEmbd, nVocab]), norm('output_norm.weight', nEmbd)];
    if (!traits.tiedEmbeddings) tensors.push(weight('output.weight', [nEmbd, nVocab]));
    for (let i = 0; i < nLayer; i++) {
        const blk = `blk.${i}`;
        tensors.push(norm(`${blk}.attn_norm.weight`, nEmbd));
        if (traits.fusedQkv) {
            tensors.push(weight(`${blk}.attn_qkv.weight`, [nEmbd, nQ + 2 * nKv]));
        } else {
            for (const [name, width] of [['attn_q', nQ], ['attn_k', nKv], ['attn_v', nKv]] as const) {
                tensors.push(weight(`${blk}.${name}.weight`, [nEmbd, width]));
                if (traits.qkvBias) tensors.push(vector(`${blk}.${name}.bias`, width));
            }
        }
        tensors.push(weight(`${blk}.attn_output.weight`, [nQ, nEmbd]));
        if (traits.qkNorm) tensors.push(norm(`${blk}.attn_q_norm.weight`, headDim), norm(`${blk}.attn_k_norm.weight`, headDim));
        if (traits.postNorms) tensors.push(norm(`${blk}.post_attention_norm.weight`, nEmbd));
        tensors.push(norm(`${blk}.ffn_norm.weight`, nEmbd));
        if (options.experts != null) {
            const { count, feedForwardLength: nFfExp } = options.experts;
            tensors.push(
                { name: `${blk}.ffn_gate_inp.weight`, dims: [nEmbd, count], type: GGML_F32, fill: w },
                weight(`${blk}.ffn_gate_exps.weight`, [nEmbd, nFfExp, count]),
                weight(`${blk}.ffn_up_exps.weight`, [nEmbd, nFfExp, count]),
                weight(`${blk}.ffn_down_exps.weight`, [nFfExp, nEmbd, count]),
            );
        } else if (traits.layerNormNoRope) {
            tensors.push(weight(`${blk}.ffn_up.weight`, [nEmbd, nFf]), weight(`${blk}.ffn_down.weight`, [nFf, nEmbd]));
        } else if (traits.fusedGateUp) {
            tensors.push(weight(`${blk}.ffn_up.weight`, [nEmbd, 2 * nFf]), weight(`${blk}.ffn_down.weight`, [nFf, nEmbd]));
        } else {
            tensors.push(
                weight(`${blk}.ffn_gate.weight`, [nEmbd, nFf]),
                weight(`${blk}.ffn_up.weight`, [nEmbd, nFf]),
                weight(`${blk}.ffn_down.weight`, [nFf, nEmbd]),
            );
        }
        if (traits.postNorms) tensors.push(norm(`${blk}.post_ffw_norm.weight`, nEmbd));
    }
    return tensors;
}

/** The architecture's hyperparameter entries (everything but general.* and tokenizer.*). */
function hparamEntries(options: RandomGgufOptions): Buffer[] {
    const arch = options.architecture;
    const traits = TRAITS[arch];
    const headDim = headDimOf(options);
    const entries = [
        u32(`${arch}.context_length`, options.contextLength),
        u32(`${arch}.embedding_length`, options.nEmbd),
        u32(`${arch}.block_count`, options.nLayer),
        u32(`${arch}.feed_forward_length`, options.nFf),
        u32(`${arch}.attention.head_count`, options.nHead),
        u32(`${arch}.attention.head_count_kv`, options.nHeadKv),
    ];
    // llama.cpp defaults both to n_embd / n_head.
    if (headDim * options.nHead !== options.nEmbd) {
        entries.push(u32(`${arch}.attention.key_length`, headDim), u32(`${arch}.attention.value_length`, headDim));
    }
    if (traits.layerNormNoRope) {
        entries.push(f32(`${arch}.attention.layer_norm_epsilon`, traits.rmsEps));
    } else {
        entries.push(
            u32(`${arch}.rope.dimension_count`, headDim),
            f32(`${arch}.rope.freq_base`, options.ropeFreqBase ?? traits.ropeFreqBase),
            f32(`${arch}.attention.layer_norm_rms_epsilon`, traits.rmsEps),
        );
    }
    if (traits.alibiBias != null) entries.push(f32(`${arch}.attention.max_alibi_bias`, traits.alibiBias));
    if (traits.encoderDecoder != null) {
        entries.push(u32(`${arch}.attention.relative_buckets_count`, traits.encoderDecoder.relativeBuckets), u32(`${arch}.decoder_start_token_id`, 0));
    }
    if (options.experts != null) {
        entries.push(
            u32(`${arch}.expert_count`, options.experts.count),
            u32(`${arch}.expert_used_count`, options.experts.used),
            u32(`${arch}.expert_feed_forward_length`, options.experts.feedForwardLength),
        );
    }
    if (traits.logitScale != null) entries.push(f32(`${arch}.logit_scale`, traits.logitScale));
    if (options.slidingWindow != null) entries.push(u32(`${arch}.attention.sliding_window`, options.slidingWindow));
    if (options.slidingWindowPattern != null) entries.push(u32(`${arch}.attention.sliding_window_pattern`, options.slidingWindowPattern));
    if (traits.softcapping != null) {
        entries.push(
            f32(`${arch}.attn_logit_softcapping`, traits.softcapping.attention),
            f32(`${arch}.final_logit_softcapping`, traits.softcapping.final),
        );
    }
    const scaling = options.ropeScaling;
    if (scaling != null) {
        entries.push(str(`${arch}.rope.scaling.type`, scaling.type));
        if (scaling.type === 'linear') {
            entries.push(f32(`${arch}.rope.scaling.factor`, scaling.factor));
        } else {
            entries.push(
                f32(`${arch}.rope.scaling.factor`, scaling.factor ?? options.contextLength / scaling.originalContextLength),
                u32(`${arch}.rope.scaling.original_context_length`, scaling.originalContextLength),
            );
            if (scaling.betaFast != null) entries.push(f32(`${arch}.rope.scaling.yarn_beta_fast`, scaling.betaFast));
            if (scaling.betaSlow != null) entries.push(f32(`${arch}.rope.scaling.yarn_beta_slow`, scaling.betaSlow));
            if (scaling.logMultiplier != null) entries.push(f32(`${arch}.rope.scaling.yarn_log_multiplier`, scaling.logMultiplier));
        }
    }
    if (options.attentionTemperatureScale != null) {
        entries.push(f32(`${arch}.attention.temperature_scale`, options.attentionTemperatureScale));
    }
    return entries;
}

/** Write a GGUF of any known architecture with seeded random weights; returns its size in bytes. */
export async function writeRandomGguf(options: RandomGgufOptions): Promise<number> {
    checkOptions(options);
    const vocabPath = options.vocabPath ?? await bundledVocab(options.vocab ?? vocabFor(options.architecture));
    const vocab = await readRawMetadata(vocabPath);
    const tokens = vocab.get('tokenizer.ggml.tokens');
    if (tokens == null) throw new Error(`${vocabPath} has no tokenizer`);
    // Array entry: key, type u32, element type u32, count u64.
    const nVocab = Number(tokens.readBigUInt64LE(8 + 'tokenizer.ggml.tokens'.length + 8));
    const weightType = options.tensorType === 'f32' ? GGML_F32 : GGML_F16;
    const tensors = tensorSpecs(options, nVocab, weightType);

    const metadata: Buffer[] = [
        str('general.architecture', options.architecture),
        str('general.name', options.name ?? `random ${options.architecture} ${options.nLayer}L ${options.nEmbd}d`),
        u32('general.file_type', weightType === GGML_F16 ? 1 : 0),
        ...hparamEntries(options),
    ];
    for (const [key, raw] of vocab) {
        if (!key.startsWith('tokenizer.')) continue;
        if (key === 'tokenizer.chat_template' && options.chatTemplate !== undefined) continue;
        metadata.push(raw);
    }
    if (options.chatTemplate != null) metadata.push(str('tokenizer.chat_template', options.chatTemplate));

    const header = Buffer.alloc(24);
    header.writeUInt32LE(GGUF_MAGIC, 0);
    header.writeUInt32LE(GGUF_VERSION, 4);
    header.writeBigUInt64LE(BigInt(tensors.length), 8);
    header.writeBigUInt64LE(BigInt(metadata.length), 16);

    const infos: Buffer[] = [];
    let dataOffset = 0;
    for (const spec of tensors) {
        const info = Buffer.alloc(4 + spec.dims.length * 8 + 4 + 8);
        let o = 0;
        info.writeUInt32LE(spec.dims.length, o); o += 4;
        for (const d of spec.dims) { info.writeBigUInt64LE(BigInt(d), o); o += 8; }
        info.writeUInt32LE(spec.type, o); o += 4;
        info.writeBigUInt64LE(BigInt(dataOffset), o);
        infos.push(encodeString(spec.name), info);
        dataOffset = align(dataOffset + tensorBytes(spec));
    }
    const head = Buffer.concat([header, ...metadata, ...infos]);
    const dataStart = align(head.length);
    const totalBytes = dataStart + dataOffset;
    if (options.dryRun) return totalBytes;

    await mkdir(path.dirname(options.outPath), { recursive: true });
    const partial = `${options.outPath}.partial`;
    const file = await open(partial, 'w');
    try {
        await file.write(head, 0, head.length, 0);
        let position = dataStart;
        let state = (options.seed ?? 1) >>> 0 || 1;
        const CHUNK = 1 << 22; // values per write
        for (const spec of tensors) {
            let remaining = spec.dims.reduce((a, b) => a * b, 1);
            const start = position;
            while (remaining > 0) {
                const n = Math.min(remaining, CHUNK);
                const values = new Float32Array(n);
                if (spec.fill === 'one') values.fill(1);
                else {
                    const scale = (2 * spec.fill) / 4294967296;
                    for (let i = 0; i < n; i++) {
                        // xorshift32: fast, seeded, good enough for noise.
                        state ^= state << 13; state >>>= 0;
                        state ^= state >>> 17;
                        state ^= state << 5; state >>>= 0;
                        values[i] = state * scale - spec.fill;
                    }
                }
                const bytes = spec.type === GGML_F16 ? new Float16Array(values) : values;
                await file.write(new Uint8Array(bytes.buffer), 0, bytes.byteLength, position);
                position += bytes.byteLength;
                remaining -= n;
            }
            position = start + align(tensorBytes(spec));
        }
        await file.truncate(totalBytes);
    } finally {
        await file.close();
    }
    await rename(partial, options.outPath);
    return totalBytes;
}

/** Write a llama-architecture GGUF with seeded random weights; returns its size in bytes. */
export function writeRandomLlamaGguf(options: RandomLlamaOptions): Promise<number> {
    return writeRandomGguf({ ...options, architecture: 'llama' });
}

/** A released model's shape: what its KV cache and attention look like, in writer options. */
export type AttentionShape = Pick<RandomGgufOptions,
    'architecture' | 'nLayer' | 'nEmbd' | 'nHead' | 'nHeadKv' | 'nFf' | 'contextLength' | 'ropeFreqBase' | 'ropeScaling' | 'slidingWindow' | 'vocab'
> & {
    /** The model this reproduces, as its publisher names it. */
    model: string;
    headDim: number;
};

/**
 * Attention shapes of models people run for long context, from each model's published
 * config.json on Hugging Face (hidden_size, intermediate_size, num_hidden_layers,
 * num_attention_heads, num_key_value_heads, head_dim, max_position_embeddings, rope_theta,
 * sliding_window). The architecture is the one llama.cpp's converter writes for that model.
 */
export type AttentionShapeName = 'llama3-8b' | 'mistral-7b' | 'qwen3-8b' | 'qwen2.5-32b' | 'llama3-70b' | 'gemma3-12b' | 'mistral-nemo-12b';

export const ATTENTION_SHAPES: Readonly<Record<AttentionShapeName, AttentionShape>> = {
    // meta-llama/Meta-Llama-3-8B
    'llama3-8b': {
        model: 'Llama-3-8B', architecture: 'llama', nLayer: 32, nEmbd: 4096, nHead: 32, nHeadKv: 8, headDim: 128,
        nFf: 14336, contextLength: 8192, ropeFreqBase: 500000,
    },
    // mistralai/Mistral-7B-Instruct-v0.2 (no sliding window, unlike v0.1): llama.cpp converts it as llama;
    // its 32,000-token SentencePiece vocab is Llama 2's size, and llama-spm is that tokenizer.
    'mistral-7b': {
        model: 'Mistral-7B-v0.2', architecture: 'llama', nLayer: 32, nEmbd: 4096, nHead: 32, nHeadKv: 8, headDim: 128,
        nFf: 14336, contextLength: 32768, ropeFreqBase: 1000000, vocab: 'llama-spm',
    },
    // Qwen/Qwen3-8B
    'qwen3-8b': {
        model: 'Qwen3-8B', architecture: 'qwen3', nLayer: 36, nEmbd: 4096, nHead: 32, nHeadKv: 8, headDim: 128,
        nFf: 12288, contextLength: 40960, ropeFreqBase: 1000000,
    },
    // Qwen/Qwen2.5-32B-Instruct (the base model's config says 131072 positions)
    'qwen2.5-32b': {
        model: 'Qwen2.5-32B', architecture: 'qwen2', nLayer: 64, nEmbd: 5120, nHead: 40, nHeadKv: 8, headDim: 128,
        nFf: 27648, contextLength: 32768, ropeFreqBase: 1000000,
    },
    // meta-llama/Meta-Llama-3-70B
    'llama3-70b': {
        model: 'Llama-3-70B', architecture: 'llama', nLayer: 80, nEmbd: 8192, nHead: 64, nHeadKv: 8, headDim: 128,
        nFf: 28672, contextLength: 8192, ropeFreqBase: 500000,
    },
    // google/gemma-3-12b-it (text_config): 1,024-token window on 5 of every 6 layers (40 of 48),
    // rope_theta 1e6 with linear scaling ×8 on the global layers, 10,000 on the window layers.
    'gemma3-12b': {
        model: 'Gemma-3-12B', architecture: 'gemma3', nLayer: 48, nEmbd: 3840, nHead: 16, nHeadKv: 8, headDim: 256,
        nFf: 15360, contextLength: 131072, ropeFreqBase: 1000000, ropeScaling: { type: 'linear', factor: 8 }, slidingWindow: 1024,
    },
    // mistralai/Mistral-Nemo-Instruct-2407: head_dim 128, not 5120 / 32; llama.cpp converts it
    // as llama. max_position_embeddings is 1024000 (the model card says 128k).
    'mistral-nemo-12b': {
        model: 'Mistral-Nemo-12B', architecture: 'llama', nLayer: 40, nEmbd: 5120, nHead: 32, nHeadKv: 8, headDim: 128,
        nFf: 14336, contextLength: 1024000, ropeFreqBase: 1000000,
    },
};

/** Cache folder for things the tests derive (vocab files, generated models). */
export const cacheDir = path.join(os.tmpdir(), 'headroom-test-cache');

/**
 * A random-weight model written once into the test cache as `fileName` and reused by later runs
 * (give the name a new version when the options change). `vocab` names the bundled tokenizer
 * (default: the architecture's), read only when the file is written.
 */
export async function cachedRandomGguf(fileName: string, options: Omit<RandomGgufOptions, 'outPath' | 'vocabPath'> & { vocab?: BundledVocab }): Promise<string> {
    const outPath = path.join(cacheDir, fileName);
    if (!existsSync(outPath)) {
        const { vocab, ...rest } = options;
        await writeRandomGguf({ ...rest, outPath, vocabPath: await bundledVocab(vocab ?? vocabFor(options.architecture)) });
    }
    return outPath;
}

/** A vocab-only GGUF from the llama.cpp source bundle that node-llama-cpp ships. */
export async function bundledVocab(name: BundledVocab): Promise<string> {
    const out = path.join(cacheDir, `ggml-vocab-${name}.gguf`);
    if (existsSync(out)) return out;
    // The package exports no subpaths; find its folder from its main entry.
    const entry = createRequire(import.meta.url).resolve('node-llama-cpp');
    const bundle = path.join(entry.slice(0, entry.lastIndexOf(`${path.sep}dist${path.sep}`)), 'llama', 'gitRelease.bundle');
    const gitDir = path.join(cacheDir, 'llama.cpp.git');
    await mkdir(cacheDir, { recursive: true });
    if (!existsSync(gitDir)) execFileSync('git', ['clone', '--quiet', '--bare', bundle, gitDir]);
    const bytes = execFileSync('git', ['--git-dir', gitDir, 'show', `HEAD:models/ggml-vocab-${name}.gguf`], { maxBuffer: 1 << 30 });
    await writeFile(`${out}.partial`, bytes);
    await rename(`${out}.partial`, out);
    return out;
}
