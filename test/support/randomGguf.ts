// Random-weight llama GGUFs with a real tokenizer, for mechanical tests (fast, any shape)
// and for benchmarks at realistic shapes (Llama-3-8B's). The tokenizer comes verbatim from
// one of llama.cpp's vocab-only GGUFs, which node-llama-cpp ships inside its source bundle.
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

export interface RandomLlamaOptions {
    outPath: string;
    /** A vocab-only GGUF: its tokenizer.* entries are copied as they are. */
    vocabPath: string;
    nLayer: number;
    nEmbd: number;
    nHead: number;
    nHeadKv: number;
    nFf: number;
    contextLength: number;
    ropeFreqBase?: number;
    /** A Jinja chat template; null writes none; undefined keeps the vocab file's own. */
    chatTemplate?: string | null;
    tensorType?: 'f32' | 'f16';
    seed?: number;
    name?: string;
    /** Compute the file size without writing anything. */
    dryRun?: boolean;
}

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

/** Write a llama-architecture GGUF with seeded random weights; returns its size in bytes. */
export async function writeRandomLlamaGguf(options: RandomLlamaOptions): Promise<number> {
    const { nLayer, nEmbd, nHead, nHeadKv, nFf } = options;
    if (nEmbd % nHead !== 0 || nHead % nHeadKv !== 0) throw new Error('nEmbd must divide by nHead, and nHead by nHeadKv');
    const headDim = nEmbd / nHead;
    const vocab = await readRawMetadata(options.vocabPath);
    const tokens = vocab.get('tokenizer.ggml.tokens');
    if (tokens == null) throw new Error(`${options.vocabPath} has no tokenizer`);
    // Array entry: key, type u32, element type u32, count u64.
    const nVocab = Number(tokens.readBigUInt64LE(8 + 'tokenizer.ggml.tokens'.length + 8));
    const weightType = options.tensorType === 'f32' ? GGML_F32 : GGML_F16;
    // Small uniform noise (std ≈ 0.02, as at initialisation) keeps activations finite.
    const w = 0.035;

    const tensors: TensorSpec[] = [
        { name: 'token_embd.weight', dims: [nEmbd, nVocab], type: weightType, fill: w },
        { name: 'output_norm.weight', dims: [nEmbd], type: GGML_F32, fill: 'one' },
        { name: 'output.weight', dims: [nEmbd, nVocab], type: weightType, fill: w },
    ];
    for (let i = 0; i < nLayer; i++) {
        const blk = `blk.${i}`;
        tensors.push(
            { name: `${blk}.attn_norm.weight`, dims: [nEmbd], type: GGML_F32, fill: 'one' },
            { name: `${blk}.attn_q.weight`, dims: [nEmbd, headDim * nHead], type: weightType, fill: w },
            { name: `${blk}.attn_k.weight`, dims: [nEmbd, headDim * nHeadKv], type: weightType, fill: w },
            { name: `${blk}.attn_v.weight`, dims: [nEmbd, headDim * nHeadKv], type: weightType, fill: w },
            { name: `${blk}.attn_output.weight`, dims: [headDim * nHead, nEmbd], type: weightType, fill: w },
            { name: `${blk}.ffn_norm.weight`, dims: [nEmbd], type: GGML_F32, fill: 'one' },
            { name: `${blk}.ffn_gate.weight`, dims: [nEmbd, nFf], type: weightType, fill: w },
            { name: `${blk}.ffn_up.weight`, dims: [nEmbd, nFf], type: weightType, fill: w },
            { name: `${blk}.ffn_down.weight`, dims: [nFf, nEmbd], type: weightType, fill: w },
        );
    }

    const metadata: Buffer[] = [
        str('general.architecture', 'llama'),
        str('general.name', options.name ?? `random llama ${nLayer}L ${nEmbd}d`),
        u32('general.file_type', weightType === GGML_F16 ? 1 : 0),
        u32('llama.context_length', options.contextLength),
        u32('llama.embedding_length', nEmbd),
        u32('llama.block_count', nLayer),
        u32('llama.feed_forward_length', nFf),
        u32('llama.attention.head_count', nHead),
        u32('llama.attention.head_count_kv', nHeadKv),
        u32('llama.rope.dimension_count', headDim),
        f32('llama.rope.freq_base', options.ropeFreqBase ?? 500000),
        f32('llama.attention.layer_norm_rms_epsilon', 1e-5),
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

/** Cache folder for things the tests derive (vocab files, generated models). */
export const cacheDir = path.join(os.tmpdir(), 'headroom-test-cache');

/** A vocab-only GGUF from the llama.cpp source bundle that node-llama-cpp ships. */
export async function bundledVocab(name: 'llama-bpe' | 'llama-spm' | 'qwen2' | 'phi-3'): Promise<string> {
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
