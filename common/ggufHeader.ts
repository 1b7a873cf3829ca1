// Checks a model file's GGUF header before anything else reads it: node-llama-cpp's GGUF
// reader and llama.cpp trust the counts in the header, so a crafted 88-byte file that claims
// 2^63 tensors or an array of 2^40 elements keeps them reading for ever. Here every count and
// length is checked against the bytes that are left, the walk has a size and a time budget,
// and the tensors must fit in the file (a truncated download is refused before the model that
// works is unloaded). The hyperparameters llama.cpp asserts on (counts of layers, heads and
// experts, their ratios, finite norms, a sane trained context) are checked too: llama.cpp aborts
// the whole engine host on a bad one, where this refuses the file in words that name the field.
// Layout: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
// Pure: the caller hands in the file system (Node's fs/promises), so the engine host and the
// backend's Models view check files the same way.
import { HeadroomError, noModelFile } from './errors.ts';

/** The part of Node's fs/promises the check uses. */
export interface GgufFileSystem {
    stat: (path: string) => Promise<{ size: number; mtimeMs: number; isFile: () => boolean; isDirectory: () => boolean }>;
    open: (path: string, flags: 'r') => Promise<GgufFileHandle>;
}

export interface GgufFileHandle {
    read: (buffer: Uint8Array, offset: number, length: number, position: number) => Promise<{ bytesRead: number }>;
    close: () => Promise<void>;
}

export interface GgufHeader {
    version: number;
    tensorCount: number;
    metadataCount: number;
    architecture: string;
    fileBytes: number;
    /** The file's modification time: with its size, what tells a replaced file from the one checked. */
    modifiedMs: number;
    /** tokenizer.chat_template, whole; null when the file has none. */
    chatTemplate: string | null;
}

export interface GgufCheckBudget {
    /** Header bytes (metadata and tensor list) read at most; real vocabularies take tens of MB. */
    maxHeaderBytes: number;
    maxMs: number;
}

const DEFAULT_BUDGET: GgufCheckBudget = { maxHeaderBytes: 512 * 1024 * 1024, maxMs: 20_000 };

const MAGIC = 0x46554747; // "GGUF", little-endian
const FIXED_HEADER_BYTES = 24; // magic, version, tensor count, metadata count
const MAX_KEY_BYTES = 65_536;
const MAX_TENSOR_NAME_BYTES = 64; // GGML_MAX_NAME
const MAX_DIMS = 4; // GGML_MAX_DIMS
const DEFAULT_ALIGNMENT = 32;
// Smallest possible encodings: a metadata pair (empty key, type, one-byte value) and a tensor (empty name, one dimension).
const MIN_METADATA_BYTES = 8 + 4 + 1;
const MIN_TENSOR_BYTES = 8 + 4 + 8 + 4 + 8;

// Metadata value types and the size of the fixed-size ones.
const STRING = 8;
const ARRAY = 9;
const FIXED_SIZES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

// Bytes per block and elements per block of the ggml tensor types whose size is certain; the
// others are held to a lower bound of one bit per element, which never refuses a sound file.
const TENSOR_TYPES: Record<number, [bytes: number, elements: number]> = {
    0: [4, 1], 1: [2, 1], 2: [18, 32], 3: [20, 32], 6: [22, 32], 7: [24, 32], 8: [34, 32], 9: [36, 32],
    10: [84, 256], 11: [110, 256], 12: [144, 256], 13: [176, 256], 14: [210, 256], 15: [292, 256],
    24: [1, 1], 25: [2, 1], 26: [4, 1], 27: [8, 1], 28: [8, 1], 30: [2, 1],
};
const MAX_TENSOR_TYPE = 63;

/** Why a file is not a GGUF model Headroom reads, worded as the end of a sentence ("it is not a GGUF model file"). */
export class GgufProblem extends Error {}

/** Sequential little-endian reads through a window of the file, never past its end or the budget. */
class HeaderReader {
    #file: GgufFileHandle;
    #size: number;
    #budget: GgufCheckBudget;
    #started = Date.now();
    #buffer = new Uint8Array(0);
    #view = new DataView(this.#buffer.buffer);
    #bufferStart = 0;
    offset = 0;

    constructor(file: GgufFileHandle, size: number, budget: GgufCheckBudget) {
        this.#file = file;
        this.#size = size;
        this.#budget = budget;
    }

    get remaining(): number {
        return this.#size - this.offset;
    }

    /** Where `count` bytes at the current offset start in the buffer, read in first when needed. */
    async #at(count: number, what: string): Promise<number> {
        if (count > this.remaining) throw new GgufProblem(`${what} runs past the end of the file`);
        if (this.offset + count > this.#budget.maxHeaderBytes) {
            throw new GgufProblem(`its header is larger than the ${Math.round(this.#budget.maxHeaderBytes / 1024 / 1024)} MB Headroom reads`);
        }
        const start = this.offset - this.#bufferStart;
        if (start < 0 || start + count > this.#buffer.length) {
            this.checkTime();
            const length = Math.min(Math.max(count, 1 << 20), this.remaining);
            const buffer = new Uint8Array(length);
            const { bytesRead } = await this.#file.read(buffer, 0, length, this.offset);
            if (bytesRead < count) throw new GgufProblem(`${what} runs past the end of the file`);
            this.#buffer = buffer.subarray(0, bytesRead);
            this.#view = new DataView(buffer.buffer, 0, bytesRead);
            this.#bufferStart = this.offset;
        }
        const from = this.offset - this.#bufferStart;
        this.offset += count;
        return from;
    }

    // The offset first: #at may replace the buffer and its view.
    async u32(what: string): Promise<number> {
        const at = await this.#at(4, what);
        return this.#view.getUint32(at, true);
    }

    async u64(what: string): Promise<bigint> {
        const at = await this.#at(8, what);
        return this.#view.getBigUint64(at, true);
    }

    async skip(count: bigint, what: string): Promise<void> {
        if (count > BigInt(this.remaining)) throw new GgufProblem(`${what} runs past the end of the file`);
        if (count <= 1n << 16n) {
            await this.#at(Number(count), what);
            return;
        }
        this.offset += Number(count); // large values are skipped, not read; the bound above still holds
        if (this.offset > this.#budget.maxHeaderBytes) throw new GgufProblem(`its header is larger than the ${Math.round(this.#budget.maxHeaderBytes / 1024 / 1024)} MB Headroom reads`);
    }

    async string(what: string, maxBytes = Number.MAX_SAFE_INTEGER): Promise<string> {
        const length = await this.u64(what);
        if (length > BigInt(Math.min(maxBytes, this.remaining))) throw new GgufProblem(`${what} claims ${length} bytes, more than ${length > BigInt(this.remaining) ? 'the file has left' : 'such a name may have'}`);
        const from = await this.#at(Number(length), what);
        // Keys, architectures and tensor names are ASCII; anything else only ends up in a message.
        return String.fromCharCode(...this.#buffer.subarray(from, from + Math.min(Number(length), 256)));
    }

    /** A fixed-size number of GGUF value type `type` (booleans as 0 or 1). */
    async number(type: number, what: string): Promise<number> {
        const size = FIXED_SIZES[type];
        if (size == null) throw new GgufProblem(`${what} has a value of unknown type ${type}`);
        const at = await this.#at(size, what);
        const view = this.#view;
        switch (type) {
            case 0: case 7: return view.getUint8(at);
            case 1: return view.getInt8(at);
            case 2: return view.getUint16(at, true);
            case 3: return view.getInt16(at, true);
            case 4: return view.getUint32(at, true);
            case 5: return view.getInt32(at, true);
            case 6: return view.getFloat32(at, true);
            case 10: return Number(view.getBigUint64(at, true));
            case 11: return Number(view.getBigInt64(at, true));
            default: return view.getFloat64(at, true);
        }
    }

    /** A whole string as UTF-8 text (a chat template), checked against what the file has left. */
    async text(what: string): Promise<string> {
        const length = await this.u64(what);
        if (length > BigInt(this.remaining)) throw new GgufProblem(`${what} claims ${length} bytes, more than the file has left`);
        const from = await this.#at(Number(length), what);
        return new TextDecoder('utf-8').decode(this.#buffer.subarray(from, from + Number(length)));
    }

    /** Keeps the walk within its time budget even when every item is tiny. */
    checkTime(): void {
        if (Date.now() - this.#started > this.#budget.maxMs) throw new GgufProblem('its header took too long to read');
    }
}

/** Skips one metadata value, checking every length and count against what is left of the file. */
async function skipValue(reader: HeaderReader, type: number, key: string, insideArray = false): Promise<void> {
    const fixed = FIXED_SIZES[type];
    if (fixed != null) return reader.skip(BigInt(fixed), `the value of ${key}`);
    if (type === STRING) {
        await reader.skip(await reader.u64(`the length of ${key}`), `the text of ${key}`);
        return;
    }
    if (type !== ARRAY || insideArray) throw new GgufProblem(`${key} has a value of unknown type ${type}`);
    const elementType = await reader.u32(`the element type of ${key}`);
    const count = await reader.u64(`the length of ${key}`);
    const elementSize = FIXED_SIZES[elementType] ?? (elementType === STRING ? 8 : null);
    if (elementSize == null) throw new GgufProblem(`${key} is an array of unknown type ${elementType}`);
    if (count * BigInt(elementSize) > BigInt(reader.remaining)) {
        throw new GgufProblem(`${key} claims ${count} elements, more than the file has room for`);
    }
    if (elementType !== STRING) return reader.skip(count * BigInt(elementSize), `the elements of ${key}`);
    for (let i = 0n; i < count; i++) {
        await reader.skip(await reader.u64(`an element of ${key}`), `an element of ${key}`);
        if ((i & 0xffffn) === 0n) reader.checkTime();
    }
}

/** A metadata value the checks read: a number, a list of numbers (one per layer), or text. */
type MetadataValue = string | number | number[];

/**
 * The hyperparameters read, by their key after `<architecture>.` (the architecture may come later
 * in the file than its keys): what llama.cpp's llama_model::load_hparams asserts on or divides by.
 */
const HYPERPARAMETERS = new Set([
    'context_length', 'embedding_length', 'block_count', 'nextn_predict_layers',
    'attention.head_count', 'attention.head_count_kv', 'attention.key_length', 'attention.value_length',
    'attention.layer_norm_epsilon', 'attention.layer_norm_rms_epsilon', 'attention.group_norm_epsilon',
    'expert_count', 'expert_used_count', 'expert_group_count', 'expert_group_used_count', 'rope.scaling.type',
]);
/** Longer per-layer lists are more than llama.cpp's 512 layers: not read (the layer count is refused). */
const MAX_LIST = 4096;

const isHyperparameter = (key: string) => HYPERPARAMETERS.has(key.slice(key.indexOf('.') + 1));

/** The value of a metadata entry Headroom needs (text, a number, a list of numbers), or skips it. */
async function readEntry(reader: HeaderReader, wanted: ReadonlySet<string>): Promise<[string, MetadataValue | null]> {
    const key = await reader.string('a metadata key', MAX_KEY_BYTES);
    const type = await reader.u32(`the type of ${key}`);
    if (key === 'tokenizer.chat_template' && type === STRING) return [key, await reader.text(`the text of ${key}`)];
    if (!wanted.has(key) && !isHyperparameter(key)) {
        await skipValue(reader, type, key);
        return [key, null];
    }
    if (type === STRING) return [key, await reader.string(`the text of ${key}`)];
    if (FIXED_SIZES[type] != null) return [key, await reader.number(type, `the value of ${key}`)];
    if (type === ARRAY) {
        const elementType = await reader.u32(`the element type of ${key}`);
        const count = await reader.u64(`the length of ${key}`);
        const size = FIXED_SIZES[elementType];
        if (size != null && count <= BigInt(MAX_LIST) && count * BigInt(size) <= BigInt(reader.remaining)) {
            const values: number[] = [];
            for (let i = 0; i < Number(count); i++) values.push(await reader.number(elementType, `an element of ${key}`));
            return [key, values];
        }
        // Too long to be per layer, or not numbers: skipped like any other array (its header is read already).
        const elementSize = size ?? (elementType === STRING ? 8 : null);
        if (elementSize == null) throw new GgufProblem(`${key} is an array of unknown type ${elementType}`);
        if (count * BigInt(elementSize) > BigInt(reader.remaining)) throw new GgufProblem(`${key} claims ${count} elements, more than the file has room for`);
        if (elementType !== STRING) await reader.skip(count * BigInt(elementSize), `the elements of ${key}`);
        else for (let i = 0n; i < count; i++) await reader.skip(await reader.u64(`an element of ${key}`), `an element of ${key}`);
        return [key, null];
    }
    await skipValue(reader, type, key);
    return [key, null];
}

/** The most layers and experts llama.cpp has room for (llama-hparams.h), and a trained context no model comes near. */
const MAX_LAYERS = 512;
const MAX_EXPERTS = 1024;
const MAX_TRAIN_CONTEXT = 1 << 24;
const ROPE_SCALING_TYPES = ['none', 'linear', 'yarn', 'longrope'];

const fmt = (n: number) => {
    if (Number.isNaN(n)) return 'NaN';
    if (!Number.isFinite(n)) return n > 0 ? 'infinite' : 'minus infinite';
    return Number.isInteger(n) ? n.toLocaleString('en-US') : String(Number(n.toPrecision(6))); // f32 values read as doubles
};

/**
 * What is wrong with a model's hyperparameters, as llama.cpp would find out by aborting (a
 * GGML_ASSERT, a division by zero, a norm with a NaN epsilon), or null. Keys llama.cpp treats as
 * optional are checked only when present; per-layer lists, where llama.cpp takes them, layer by layer.
 */
export function hyperparameterProblem(architecture: string, metadata: ReadonlyMap<string, MetadataValue>): string | null {
    const key = (name: string) => `${architecture}.${name}`;
    const field = (name: string) => metadata.get(key(name));
    const bad = (name: string, value: MetadataValue, needs: string) =>
        `its metadata field ${key(name)} is ${Array.isArray(value) ? `[${value.slice(0, 8).map(fmt).join(', ')}${value.length > 8 ? ', …' : ''}]` : typeof value === 'number' ? fmt(value) : `"${value}"`}, where ${needs}; the file is damaged or was converted wrong`;
    const isCount = (value: number) => Number.isInteger(value) && value >= 0;
    const asNumber = (name: string): number | null | 'bad' => {
        const value = field(name);
        if (value == null) return null;
        return typeof value === 'number' ? value : 'bad';
    };

    for (const name of ['attention.layer_norm_epsilon', 'attention.layer_norm_rms_epsilon', 'attention.group_norm_epsilon']) {
        const value = field(name);
        if (value == null) continue;
        if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return bad(name, value, 'a normalization epsilon must be a finite number of at least 0');
    }

    const layers = asNumber('block_count');
    if (layers === 'bad' || (layers != null && (!isCount(layers) || layers < 1 || layers > MAX_LAYERS))) {
        return bad('block_count', field('block_count') ?? '', `a model has 1 to ${MAX_LAYERS} layers`);
    }
    const nextn = asNumber('nextn_predict_layers');
    if (nextn === 'bad' || (nextn != null && (!isCount(nextn) || (layers != null && nextn > layers)))) {
        return bad('nextn_predict_layers', field('nextn_predict_layers') ?? '', 'it may be at most the number of layers');
    }
    const context = asNumber('context_length');
    if (context === 'bad' || (context != null && (!isCount(context) || context < 1 || context > MAX_TRAIN_CONTEXT))) {
        return bad('context_length', field('context_length') ?? '', `the context the model was trained on is 1 to ${fmt(MAX_TRAIN_CONTEXT)} tokens`);
    }
    const embedding = asNumber('embedding_length');
    if (embedding === 'bad' || (embedding != null && (!isCount(embedding) || embedding < 1))) {
        return bad('embedding_length', field('embedding_length') ?? '', 'a model\'s embedding has at least one dimension');
    }

    // Heads: a number for every layer, or a list with one per layer.
    const perLayer = (name: string): number[] | null | string => {
        const value = field(name);
        if (value == null) return null;
        const list = typeof value === 'number' ? [value] : Array.isArray(value) ? value : null;
        if (list == null || !list.every(isCount)) return bad(name, value, 'head counts are whole numbers');
        if (Array.isArray(value) && layers != null && value.length !== layers) return bad(name, value, `a list of head counts has one per layer (${layers})`);
        return list;
    };
    const heads = perLayer('attention.head_count');
    if (typeof heads === 'string') return heads;
    const kvHeads = perLayer('attention.head_count_kv');
    if (typeof kvHeads === 'string') return kvHeads;
    if (heads != null && kvHeads != null) {
        const kvIsList = Array.isArray(field('attention.head_count_kv'));
        const count = Math.max(heads.length, kvHeads.length);
        for (let layer = 0; layer < count; layer++) {
            const h = heads[heads.length === 1 ? 0 : layer] ?? 0;
            const kv = kvHeads[kvHeads.length === 1 ? 0 : layer] ?? 0;
            // A list may give a layer no KV heads (a recurrent layer between attention ones); one number may not.
            if (h > 0 && kv === 0 && !kvIsList) return bad('attention.head_count_kv', field('attention.head_count_kv') ?? 0, `the model has ${fmt(h)} attention heads, which need at least one key-value head`);
            if (kv > h) return bad('attention.head_count', field('attention.head_count') ?? 0, `the ${fmt(kv)} key-value heads of ${architecture}.attention.head_count_kv need at least as many attention heads`);
            if (h > 0 && kv > 0 && h % kv !== 0) return bad('attention.head_count_kv', field('attention.head_count_kv') ?? 0, `the ${fmt(h)} attention heads must split evenly among the key-value heads`);
        }
    }
    const firstHeads = heads?.[0] ?? 0;
    if (firstHeads > 0) {
        for (const name of ['attention.key_length', 'attention.value_length']) {
            const length = asNumber(name);
            if (length === 'bad' || (length != null && (!isCount(length) || length < 1))) return bad(name, field(name) ?? '', 'a head has at least one dimension');
        }
        // Without key_length, llama.cpp sizes each head as the embedding divided by the heads.
        if (field('attention.key_length') == null && typeof embedding === 'number' && embedding % firstHeads !== 0) {
            return bad('embedding_length', embedding, `its ${fmt(firstHeads)} attention heads must divide it evenly (the file gives no attention.key_length)`);
        }
    }

    const experts = asNumber('expert_count');
    if (experts === 'bad' || (experts != null && (!isCount(experts) || experts > MAX_EXPERTS))) return bad('expert_count', field('expert_count') ?? '', `llama.cpp takes 0 to ${fmt(MAX_EXPERTS)} experts`);
    const usedValue = field('expert_used_count');
    if (usedValue != null) {
        const used = typeof usedValue === 'number' ? [usedValue] : Array.isArray(usedValue) ? usedValue : null;
        if (used == null || !used.every(isCount)) return bad('expert_used_count', usedValue, 'experts are counted in whole numbers');
        const most = Math.max(0, ...used);
        if (most > (experts ?? 0)) return bad('expert_used_count', usedValue, `a token can use at most the ${fmt(experts ?? 0)} experts there are`);
        if ((experts ?? 0) > 0 && most === 0) return bad('expert_used_count', usedValue, `a model with ${fmt(experts ?? 0)} experts uses at least one for each token`);
    } else if ((experts ?? 0) > 0) {
        return `its metadata has ${architecture}.expert_count ${fmt(experts ?? 0)} but no ${architecture}.expert_used_count, where each token needs experts to use; the file is damaged or was converted wrong`;
    }
    const groups = asNumber('expert_group_count');
    if (groups === 'bad' || (groups != null && (!isCount(groups) || (groups > 0 && groups >= (experts ?? 0)) || (groups > 1 && (experts ?? 0) % groups !== 0)))) {
        return bad('expert_group_count', field('expert_group_count') ?? '', `the ${fmt(experts ?? 0)} experts must split evenly into fewer groups`);
    }
    const groupsUsed = asNumber('expert_group_used_count');
    if (groups != null && typeof groups === 'number' && groups > 1 && (groupsUsed === 'bad' || groupsUsed == null || groupsUsed < 1 || groupsUsed >= groups)) {
        return bad('expert_group_used_count', field('expert_group_used_count') ?? 0, `a token uses at least one and fewer than all ${fmt(groups)} expert groups`);
    }

    const scaling = field('rope.scaling.type');
    if (scaling != null && (typeof scaling !== 'string' || !ROPE_SCALING_TYPES.includes(scaling))) {
        return bad('rope.scaling.type', scaling, `llama.cpp knows the rope scalings ${ROPE_SCALING_TYPES.map((t) => `"${t}"`).join(', ')}`);
    }
    return null;
}

function tensorBytes(type: number, elements: bigint): bigint {
    const known = TENSOR_TYPES[type];
    if (known == null) return (elements + 7n) / 8n;
    const [bytes, perBlock] = known;
    return ((elements + BigInt(perBlock) - 1n) / BigInt(perBlock)) * BigInt(bytes);
}

async function walk(reader: HeaderReader, fileBytes: number): Promise<Omit<GgufHeader, 'modifiedMs'>> {
    if (fileBytes < FIXED_HEADER_BYTES) throw new GgufProblem(`it is too short to be a model (${fileBytes} bytes)`);
    if ((await reader.u32('the magic number')) !== MAGIC) throw new GgufProblem('it does not start with "GGUF", the mark of a model file');
    const version = await reader.u32('the version');
    if (version !== 2 && version !== 3) throw new GgufProblem(`it is a GGUF version ${version} file; llama.cpp reads versions 2 and 3`);
    const tensorCount = await reader.u64('the tensor count');
    const metadataCount = await reader.u64('the metadata count');
    const room = BigInt(reader.remaining);
    if (tensorCount * BigInt(MIN_TENSOR_BYTES) + metadataCount * BigInt(MIN_METADATA_BYTES) > room) {
        throw new GgufProblem(`its header claims ${tensorCount} tensors and ${metadataCount} metadata entries, more than a file of ${fileBytes} bytes can hold; the file is damaged`);
    }

    let architecture: string | null = null;
    let alignment = DEFAULT_ALIGNMENT;
    let chatTemplate: string | null = null;
    const hyperparameters = new Map<string, MetadataValue>();
    const wanted = new Set(['general.architecture', 'general.alignment']);
    for (let i = 0n; i < metadataCount; i++) {
        const [key, value] = await readEntry(reader, wanted);
        if (key === 'general.architecture' && typeof value === 'string') architecture = value;
        else if (key === 'general.alignment' && typeof value === 'number') alignment = value;
        else if (key === 'tokenizer.chat_template' && typeof value === 'string') chatTemplate = value;
        else if (value != null) hyperparameters.set(key, value);
        reader.checkTime();
    }
    if (architecture == null || architecture === '') throw new GgufProblem('its metadata names no architecture (general.architecture)');
    const problem = hyperparameterProblem(architecture, hyperparameters);
    if (problem != null) throw new GgufProblem(problem);
    if (tensorCount === 0n) throw new GgufProblem('it holds no weights (a vocabulary-only file)');
    if (alignment === 0 || (alignment & (alignment - 1)) !== 0) throw new GgufProblem(`its alignment (${alignment}) is not a power of two`);

    let dataEnd = 0n; // relative to the start of the tensor data
    for (let i = 0n; i < tensorCount; i++) {
        const name = await reader.string('a tensor name', MAX_TENSOR_NAME_BYTES);
        const dims = await reader.u32(`the dimensions of ${name}`);
        if (dims > MAX_DIMS) throw new GgufProblem(`tensor ${name} has ${dims} dimensions; llama.cpp allows ${MAX_DIMS}`);
        let elements = 1n;
        for (let d = 0; d < dims; d++) {
            elements *= await reader.u64(`a dimension of ${name}`);
            if (elements > 1n << 62n) throw new GgufProblem(`tensor ${name} claims more elements than any model has`);
        }
        const type = await reader.u32(`the type of ${name}`);
        if (type > MAX_TENSOR_TYPE) throw new GgufProblem(`tensor ${name} has an unknown type (${type})`);
        const offset = await reader.u64(`the offset of ${name}`);
        const end = offset + tensorBytes(type, elements);
        if (end > dataEnd) dataEnd = end;
        reader.checkTime();
    }
    const dataStart = BigInt(Math.ceil(reader.offset / alignment) * alignment);
    if (dataStart + dataEnd > BigInt(fileBytes)) {
        throw new GgufProblem(`it is cut short: its tensors need at least ${dataStart + dataEnd} bytes, but the file has ${fileBytes}. Download it again`);
    }
    return { version, tensorCount: Number(tensorCount), metadataCount: Number(metadataCount), architecture, fileBytes, chatTemplate };
}

/**
 * The header of a model file, once it is known to be a regular file whose GGUF header holds
 * together. Throws GgufProblem saying why not, or NOT_FOUND when there is no such file.
 */
export async function readGgufHeader(fs: GgufFileSystem, modelPath: string, budget: GgufCheckBudget = DEFAULT_BUDGET): Promise<GgufHeader> {
    const info = await fs.stat(modelPath).catch(() => null);
    if (info == null) throw noModelFile(modelPath);
    if (!info.isFile()) throw new GgufProblem(`it is ${info.isDirectory() ? 'a folder' : 'a device or a special file'}, not a model file`);
    let file: GgufFileHandle;
    try {
        file = await fs.open(modelPath, 'r');
    } catch {
        throw new GgufProblem('Headroom may not read it (check the file\'s permissions)');
    }
    try {
        return { ...await walk(new HeaderReader(file, info.size, budget), info.size), modifiedMs: info.mtimeMs };
    } finally {
        await file.close();
    }
}

/** readGgufHeader for a file someone asked to load: refused with one sentence, NOT_FOUND or MODEL_LOAD_FAILED. */
export async function checkGgufFile(fs: GgufFileSystem, modelPath: string, budget: GgufCheckBudget = DEFAULT_BUDGET): Promise<GgufHeader> {
    try {
        return await readGgufHeader(fs, modelPath, budget);
    } catch (error) {
        if (!(error instanceof GgufProblem)) throw error;
        throw new HeadroomError('MODEL_LOAD_FAILED', `Could not load ${modelPath.split(/[\\/]/).at(-1) ?? modelPath}: ${error.message}.`);
    }
}
