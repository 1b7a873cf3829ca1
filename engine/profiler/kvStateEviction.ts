// Streaming heads emulated on the stock llama.cpp cache, for profiling: a sequence's saved
// KV state is edited so that, for chosen (layer, KV head)s, every cell older than the recent
// window (sinks excepted) holds a copy of a sink cell's K and V. Attention those heads paid
// to far tokens then lands on the sinks, as in a streaming head, whose far cells are gone.
// It acts on tokens evaluated after the edit: the prompt is prefilled with the full cache and
// the heads are cut back before the question, like a cache compressed after prefill.
import { HeadroomError } from '../../common/errors.ts';

export interface HeadRef {
    layer: number;
    head: number;
}

const STATE_SEQ_MAGIC = 0x67677371; // 'ggsq'
const STATE_SEQ_VERSION = 3;
const GGML_F32 = 0;
const GGML_F16 = 1;

interface Layout {
    cellCount: number;
    positions: Int32Array;
    vTransposed: boolean;
    /** Per layer: where its K rows start and each row's size in bytes. */
    k: { at: number; rowBytes: number; elementBytes: number }[];
    /** Per layer: where its V data start; rows per cell, or (transposed) one run of cells per channel. */
    v: { at: number; rowBytes: number; elementBytes: number; channels: number }[];
}

function elementBytes(type: number): number {
    if (type === GGML_F16) return 2;
    if (type === GGML_F32) return 4;
    throw new HeadroomError('NOT_AVAILABLE', `Profiling by KV eviction needs an F16 or F32 KV cache, not ggml type ${type}.`);
}

/** Reads the layout of a single-stream sequence state written by llama_state_seq_save_file. */
function readLayout(state: Buffer, layers: number): Layout {
    let at = 0;
    const u32 = () => { const v = state.readUInt32LE(at); at += 4; return v; };
    const i32 = () => { const v = state.readInt32LE(at); at += 4; return v; };
    if (u32() !== STATE_SEQ_MAGIC || u32() !== STATE_SEQ_VERSION) throw new HeadroomError('NOT_AVAILABLE', 'This llama.cpp writes a sequence state format the profiler does not know.');
    const tokenCount = u32();
    at += 4 * tokenCount; // the prompt's tokens
    if (u32() !== 1) throw new HeadroomError('NOT_AVAILABLE', 'Profiling by KV eviction needs a single-stream KV cache.');
    const cellCount = u32();
    const positions = new Int32Array(cellCount);
    for (let i = 0; i < cellCount; i++) {
        positions[i] = i32();
        const sequenceIds = u32();
        at += 4 * sequenceIds;
    }
    const vTransposed = u32() === 1;
    if (u32() !== layers) throw new HeadroomError('NOT_AVAILABLE', 'The KV state has a different number of layers than the model.');
    const k: Layout['k'] = [];
    for (let layer = 0; layer < layers; layer++) {
        const bytes = elementBytes(i32());
        const rowBytes = Number(state.readBigUInt64LE(at));
        at += 8;
        k.push({ at, rowBytes, elementBytes: bytes });
        at += rowBytes * cellCount;
    }
    const v: Layout['v'] = [];
    for (let layer = 0; layer < layers; layer++) {
        const bytes = elementBytes(i32());
        if (vTransposed) {
            at += 4; // element size, the same as the type's
            const channels = u32();
            v.push({ at, rowBytes: channels * bytes, elementBytes: bytes, channels });
            at += channels * cellCount * bytes;
        } else {
            const rowBytes = Number(state.readBigUInt64LE(at));
            at += 8;
            v.push({ at, rowBytes, elementBytes: bytes, channels: rowBytes / bytes });
            at += rowBytes * cellCount;
        }
    }
    // Anything else (extended cell data, more streams) would shift every offset: refuse it.
    if (at !== state.length) throw new HeadroomError('NOT_AVAILABLE', 'The KV state holds data the profiler does not know how to edit.');
    return { cellCount, positions, vTransposed, k, v };
}

export interface EvictionOptions {
    layers: number;
    kvHeads: number;
    sinks: number;
    /** Cells at this position or later are in the window and stay. */
    keepFrom: number;
}

/** A copy of `state` in which `heads` see only their sinks and the cells from `keepFrom` on. */
export function evictHeadsInState(state: Buffer, heads: readonly HeadRef[], options: EvictionOptions): Buffer {
    const layout = readLayout(state, options.layers);
    const edited = Buffer.from(state);
    const sinkCells: number[] = [];
    const farCells: number[] = [];
    layout.positions.forEach((position, cell) => {
        if (position < options.sinks) sinkCells.push(cell);
        else if (position < options.keepFrom) farCells.push(cell);
    });
    if (sinkCells.length === 0 || farCells.length === 0) return edited;
    sinkCells.sort((a, b) => (layout.positions[a] ?? 0) - (layout.positions[b] ?? 0));
    for (const { layer, head } of heads) {
        const k = layout.k[layer];
        const v = layout.v[layer];
        if (k == null || v == null) throw new HeadroomError('BAD_REQUEST', `The KV state has no layer ${layer}.`);
        const kHeadBytes = k.rowBytes / options.kvHeads;
        const vChannels = v.channels / options.kvHeads;
        farCells.forEach((cell, index) => {
            const sink = sinkCells[index % sinkCells.length] ?? 0;
            edited.copy(edited, k.at + cell * k.rowBytes + head * kHeadBytes, k.at + sink * k.rowBytes + head * kHeadBytes, k.at + sink * k.rowBytes + (head + 1) * kHeadBytes);
            if (layout.vTransposed) {
                for (let channel = head * vChannels; channel < (head + 1) * vChannels; channel++) {
                    const run = v.at + channel * layout.cellCount * v.elementBytes;
                    edited.copy(edited, run + cell * v.elementBytes, run + sink * v.elementBytes, run + (sink + 1) * v.elementBytes);
                }
            } else {
                const headBytes = v.rowBytes / options.kvHeads;
                edited.copy(edited, v.at + cell * v.rowBytes + head * headBytes, v.at + sink * v.rowBytes + head * headBytes, v.at + sink * v.rowBytes + (head + 1) * headBytes);
            }
        });
    }
    return edited;
}
