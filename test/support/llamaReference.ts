// An independent forward pass in TypeScript for the llama family (llama, qwen2 with its q/k/v
// biases, qwen3 with its per-head q/k norms and NEOX rope) and Gemma 3 (scaled embeddings,
// sandwich norms, GELU, and window layers that attend only their last n_swa positions),
// straight from a GGUF's F32/F16 weights: the reference the head-level KV cache is checked
// against. It knows nothing of llama.cpp's cache cells; which earlier positions a head attends
// is a plain predicate.
import { readFile } from 'node:fs/promises';

type Scalar = number | bigint | string | boolean;

interface Tensor {
    dims: number[];
    data: Float32Array;
    /** ggml type (0 F32, 1 F16) and where the tensor's data start in the file, for tools that edit weights in place. */
    type: number;
    fileOffset: number;
}

const SCALAR_BYTES: Partial<Record<number, number>> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

function halfToFloat(h: number): number {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
    if (exponent === 31) return fraction ? NaN : sign * Infinity;
    return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Scalar metadata and F32/F16 tensors of a GGUF file (arrays are skipped), with where each tensor's data sit in the file. */
export async function readGguf(file: string): Promise<{ meta: Map<string, Scalar>; tensors: Map<string, Tensor> }> {
    const data = await readFile(file);
    let offset = 8;
    const u32 = () => { const v = data.readUInt32LE(offset); offset += 4; return v; };
    const u64 = () => { const v = Number(data.readBigUInt64LE(offset)); offset += 8; return v; };
    const str = () => { const n = u64(); const s = data.toString('utf8', offset, offset + n); offset += n; return s; };
    const scalar = (type: number): Scalar => {
        const at = offset;
        offset += SCALAR_BYTES[type] ?? 0;
        switch (type) {
            case 0: return data.readUInt8(at);
            case 1: return data.readInt8(at);
            case 2: return data.readUInt16LE(at);
            case 3: return data.readInt16LE(at);
            case 4: return data.readUInt32LE(at);
            case 5: return data.readInt32LE(at);
            case 6: return data.readFloatLE(at);
            case 7: return data.readUInt8(at) !== 0;
            case 10: return data.readBigUInt64LE(at);
            case 11: return data.readBigInt64LE(at);
            case 12: return data.readDoubleLE(at);
            default: throw new Error(`GGUF type ${type} is not a scalar`);
        }
    };
    const skip = (type: number): void => {
        if (type === 8) { str(); return; }
        if (type === 9) {
            const elementType = u32();
            const count = u64();
            const elementBytes = SCALAR_BYTES[elementType];
            if (elementBytes != null) offset += elementBytes * count;
            else for (let i = 0; i < count; i++) skip(elementType);
            return;
        }
        offset += SCALAR_BYTES[type] ?? 0;
    };
    offset = 8;
    const tensorCount = u64();
    const kvCount = u64();
    const meta = new Map<string, Scalar>();
    for (let i = 0; i < kvCount; i++) {
        const key = str();
        const type = u32();
        if (type === 8) meta.set(key, str());
        else if (type === 9) skip(type);
        else meta.set(key, scalar(type));
    }
    const infos: { name: string; dims: number[]; type: number; offset: number }[] = [];
    for (let i = 0; i < tensorCount; i++) {
        const name = str();
        const nDims = u32();
        const dims = Array.from({ length: nDims }, () => u64());
        const type = u32();
        infos.push({ name, dims, type, offset: u64() });
    }
    const alignment = Number(meta.get('general.alignment') ?? 32);
    const base = Math.ceil(offset / alignment) * alignment;
    const tensors = new Map<string, Tensor>();
    for (const info of infos) {
        const count = info.dims.reduce((a, b) => a * b, 1);
        const out = new Float32Array(count);
        const at = base + info.offset;
        if (info.type === 0) for (let i = 0; i < count; i++) out[i] = data.readFloatLE(at + 4 * i);
        else if (info.type === 1) for (let i = 0; i < count; i++) out[i] = halfToFloat(data.readUInt16LE(at + 2 * i));
        else continue; // quantized tensors: not needed by the test models
        tensors.set(info.name, { dims: info.dims, data: out, type: info.type, fileOffset: at });
    }
    return { meta, tensors };
}

/** Whether the query at position t of (layer, KV head) attends the key at position p (p <= t). */
export type Visibility = (layer: number, kvHead: number, p: number, t: number) => boolean;

export const attendAll: Visibility = () => true;

/** The streaming rule: the first `sinks` positions and the last `window` ones (t itself included). */
export function streamingVisibility(policy: readonly (readonly string[])[], sinks: number, window: number): Visibility {
    return (layer, kvHead, p, t) => policy[layer]?.[kvHead] !== 'streaming' || p < sinks || t - p < window;
}

export class LlamaReference {
    readonly nLayer: number;
    readonly nHead: number;
    readonly nHeadKv: number;
    readonly nEmbd: number;
    readonly headDim: number;
    readonly nVocab: number;
    #eps: number;
    #ropeBase: number;
    /** The rope base of the window layers (Gemma 3: rope.freq_base_swa, else llama.cpp's 10,000). */
    #ropeBaseWindow: number;
    #nRot: number;
    /** llama.cpp's rope for the architecture: llama rotates adjacent pairs, qwen2/3 and Gemma (NEOX) the two halves. */
    #neox: boolean;
    /** Gemma 3: embeddings scaled by sqrt(n_embd), norms after attention and FFN, GELU. */
    #gemma: boolean;
    /** The window of the model's window layers (0: none), and which layers those are. */
    readonly slidingWindow: number;
    readonly windowLayers: readonly boolean[];
    #t: Map<string, Tensor>;

    private constructor(meta: Map<string, Scalar>, tensors: Map<string, Tensor>) {
        const arch = String(meta.get('general.architecture'));
        if (!['llama', 'qwen2', 'qwen3', 'gemma3'].includes(arch)) throw new Error(`the reference implements llama, qwen2, qwen3 and gemma3, not ${arch}`);
        const num = (key: string, fallback?: number) => {
            const value = meta.get(`${arch}.${key}`);
            if (value == null && fallback == null) throw new Error(`missing ${arch}.${key}`);
            return Number(value ?? fallback);
        };
        this.nLayer = num('block_count');
        this.nEmbd = num('embedding_length');
        this.nHead = num('attention.head_count');
        this.nHeadKv = num('attention.head_count_kv', this.nHead);
        this.headDim = num('attention.key_length', this.nEmbd / this.nHead);
        this.#eps = num('attention.layer_norm_rms_epsilon');
        this.#ropeBase = num('rope.freq_base', 10000);
        this.#ropeBaseWindow = num('rope.freq_base_swa', 10000);
        this.#nRot = num('rope.dimension_count', this.headDim);
        this.#neox = arch !== 'llama';
        this.#gemma = arch === 'gemma3';
        // Gemma 3: every layer but the last of each period attends through the window (llama_hparams::set_swa_pattern)
        this.slidingWindow = this.#gemma ? num('attention.sliding_window', 0) : 0;
        const period = this.#gemma ? num('attention.sliding_window_pattern', 6) : 0;
        this.windowLayers = Array.from({ length: this.nLayer }, (_, il) => this.slidingWindow > 0 && (period === 0 || il % period < period - 1));
        this.#t = tensors;
        this.nVocab = this.#w('token_embd.weight').dims[1] ?? 0;
    }

    static async load(file: string): Promise<LlamaReference> {
        const { meta, tensors } = await readGguf(file);
        return new LlamaReference(meta, tensors);
    }

    #w(name: string): Tensor {
        const tensor = this.#t.get(name);
        if (tensor == null) throw new Error(`missing tensor ${name}`);
        return tensor;
    }

    /** y = W x for a ggml weight of dims [in, out]. */
    #matvec(name: string, x: Float64Array): Float64Array {
        const { dims, data } = this.#w(name);
        const [n = 0, m = 0] = dims;
        const y = new Float64Array(m);
        for (let o = 0; o < m; o++) {
            let sum = 0;
            const row = o * n;
            for (let i = 0; i < n; i++) sum += (data[row + i] ?? 0) * (x[i] ?? 0);
            y[o] = sum;
        }
        return y;
    }

    #rmsNorm(x: Float64Array, weight: string): Float64Array {
        const w = this.#w(weight).data;
        let sum = 0;
        for (const v of x) sum += v * v;
        const scale = 1 / Math.sqrt(sum / x.length + this.#eps);
        return x.map((v, i) => v * scale * (w[i] ?? 0));
    }

    /** The same norm over each head's own values (qwen3's q/k norms), when the model has that weight. */
    #headNorm(x: Float64Array, heads: number, weight: string): Float64Array {
        if (!this.#t.has(weight)) return x;
        const out = new Float64Array(x.length);
        for (let h = 0; h < heads; h++) out.set(this.#rmsNorm(x.subarray(h * this.headDim, (h + 1) * this.headDim), weight), h * this.headDim);
        return out;
    }

    /** The same norm over the whole vector, when the model has that weight (Gemma's post-attention and post-FFN norms). */
    #optionalNorm(x: Float64Array, weight: string): Float64Array {
        return this.#t.has(weight) ? this.#rmsNorm(x, weight) : x;
    }

    /** y += b, when the model has that bias (qwen2's q/k/v biases). */
    #bias(y: Float64Array, name: string): Float64Array {
        const bias = this.#t.get(name)?.data;
        return bias == null ? y : y.map((v, i) => v + (bias[i] ?? 0));
    }

    /** llama.cpp's RoPE, frequency base^(-i/n_rot): "normal" rotates adjacent pairs, NEOX pairs i and i + n_rot/2. */
    #rope(x: Float64Array, heads: number, pos: number, freqBase: number): void {
        const half = this.#nRot / 2;
        for (let h = 0; h < heads; h++) {
            const base = h * this.headDim;
            for (let i = 0; i < this.#nRot; i += 2) {
                const theta = pos * freqBase ** (-i / this.#nRot);
                const c = Math.cos(theta);
                const s = Math.sin(theta);
                const a = this.#neox ? base + i / 2 : base + i;
                const b = this.#neox ? base + i / 2 + half : base + i + 1;
                const x0 = x[a] ?? 0;
                const x1 = x[b] ?? 0;
                x[a] = x0 * c - x1 * s;
                x[b] = x0 * s + x1 * c;
            }
        }
    }

    /**
     * Runs tokens through the model one position at a time and returns the logits after
     * each position listed in `logitsAt` (all positions when omitted).
     */
    forward(tokens: readonly number[], visible: Visibility, logitsAt?: ReadonlySet<number>): Map<number, Float64Array> {
        const { nLayer, nHead, nHeadKv, headDim, nEmbd } = this;
        if (nEmbd !== this.#w('token_embd.weight').dims[0]) throw new Error('unexpected embedding width');
        const group = nHead / nHeadKv;
        const keys: Float64Array[][] = Array.from({ length: nLayer }, () => []);
        const values: Float64Array[][] = Array.from({ length: nLayer }, () => []);
        const embd = this.#w('token_embd.weight').data;
        const output = this.#t.has('output.weight') ? 'output.weight' : 'token_embd.weight';
        const result = new Map<number, Float64Array>();
        const scale = 1 / Math.sqrt(headDim);
        const embedScale = this.#gemma ? Math.sqrt(nEmbd) : 1;
        for (const [t, token] of tokens.entries()) {
            let x = Float64Array.from(embd.subarray(token * nEmbd, (token + 1) * nEmbd), (v) => v * embedScale);
            for (let l = 0; l < nLayer; l++) {
                const layerKeys = keys[l] ?? [];
                const layerValues = values[l] ?? [];
                const h = this.#rmsNorm(x, `blk.${l}.attn_norm.weight`);
                const q = this.#headNorm(this.#bias(this.#matvec(`blk.${l}.attn_q.weight`, h), `blk.${l}.attn_q.bias`), nHead, `blk.${l}.attn_q_norm.weight`);
                const k = this.#headNorm(this.#bias(this.#matvec(`blk.${l}.attn_k.weight`, h), `blk.${l}.attn_k.bias`), nHeadKv, `blk.${l}.attn_k_norm.weight`);
                const v = this.#bias(this.#matvec(`blk.${l}.attn_v.weight`, h), `blk.${l}.attn_v.bias`);
                const freqBase = this.windowLayers[l] === true ? this.#ropeBaseWindow : this.#ropeBase;
                this.#rope(q, nHead, t, freqBase);
                this.#rope(k, nHeadKv, t, freqBase);
                layerKeys.push(k);
                layerValues.push(v);
                const attn = new Float64Array(nHead * headDim);
                for (let head = 0; head < nHead; head++) {
                    const kvHead = Math.floor(head / group);
                    const qo = head * headDim;
                    const ko = kvHead * headDim;
                    const seen: number[] = [];
                    const scores: number[] = [];
                    for (const [p, key] of layerKeys.entries()) {
                        if (!visible(l, kvHead, p, t)) continue;
                        if (this.windowLayers[l] === true && t - p >= this.slidingWindow) continue; // the model's own window
                        let dot = 0;
                        for (let d = 0; d < headDim; d++) dot += (q[qo + d] ?? 0) * (key[ko + d] ?? 0);
                        seen.push(p);
                        scores.push(dot * scale);
                    }
                    const max = Math.max(...scores);
                    const weights = scores.map((s) => Math.exp(s - max));
                    const total = weights.reduce((a, b) => a + b, 0);
                    seen.forEach((p, i) => {
                        const w = (weights[i] ?? 0) / total;
                        const value = layerValues[p] ?? new Float64Array();
                        for (let d = 0; d < headDim; d++) attn[qo + d] = (attn[qo + d] ?? 0) + w * (value[ko + d] ?? 0);
                    });
                }
                const o = this.#optionalNorm(this.#matvec(`blk.${l}.attn_output.weight`, attn), `blk.${l}.post_attention_norm.weight`);
                x = x.map((value, i) => value + (o[i] ?? 0));
                const f = this.#rmsNorm(x, `blk.${l}.ffn_norm.weight`);
                const gate = this.#matvec(`blk.${l}.ffn_gate.weight`, f);
                const up = this.#matvec(`blk.${l}.ffn_up.weight`, f);
                // SiLU for the llama family; Gemma's GELU as ggml computes it (the tanh approximation)
                const activation = this.#gemma
                    ? (g: number) => 0.5 * g * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (g + 0.044715 * g ** 3)))
                    : (g: number) => g / (1 + Math.exp(-g));
                const act = gate.map((g, i) => activation(g) * (up[i] ?? 0));
                const down = this.#optionalNorm(this.#matvec(`blk.${l}.ffn_down.weight`, act), `blk.${l}.post_ffw_norm.weight`);
                x = x.map((value, i) => value + (down[i] ?? 0));
            }
            if (logitsAt == null || logitsAt.has(t)) {
                result.set(t, this.#matvec(output, this.#rmsNorm(x, 'output_norm.weight')));
            }
        }
        return result;
    }
}
