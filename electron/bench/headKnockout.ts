// Knocking KV heads out of a model file: the value-projection rows of a KV head are zeroed,
// so that head contributes nothing at any position. One scratch copy of the GGUF is patched
// and restored in place per ablation, so a profile costs one file copy, not one per head.
import { copyFile, open, rm, type FileHandle } from 'node:fs/promises';
import type { GgufTensorInfo } from 'node-llama-cpp';
import { HeadroomError } from '../ipc/rpc.ts';
import { getRuntime } from './engineAdapter.ts';

export interface HeadRef {
    layer: number;
    head: number;
}

// ggml types whose blocks read as zero when every byte is zero: [elements per block, bytes per block].
const BLOCK_LAYOUT: Record<number, [number, number]> = {
    0: [1, 4], // F32
    1: [1, 2], // F16
    2: [32, 18], // Q4_0
    3: [32, 20], // Q4_1
    6: [32, 22], // Q5_0
    7: [32, 24], // Q5_1
    8: [32, 34], // Q8_0
    10: [256, 84], // Q2_K
    11: [256, 110], // Q3_K
    12: [256, 144], // Q4_K
    13: [256, 176], // Q5_K
    14: [256, 210], // Q6_K
    30: [1, 2], // BF16
};

interface ValueRows {
    tensor: GgufTensorInfo;
    rowBytes: number;
    headDim: number;
}

export class HeadKnockoutFile {
    readonly path: string;
    #file: FileHandle;
    #values: ValueRows[];
    #saved = new Map<string, Buffer>();

    private constructor(path: string, file: FileHandle, values: ValueRows[]) {
        this.path = path;
        this.#file = file;
        this.#values = values;
    }

    /** Copies `modelPath` to `scratchPath`, ready for heads to be knocked out of it. */
    static async create(modelPath: string, scratchPath: string, kvHeads: number, layers: number): Promise<HeadKnockoutFile> {
        const { lib } = await getRuntime();
        const info = await lib.readGgufFileInfo(modelPath, { readTensorInfo: true });
        const values: ValueRows[] = [];
        for (let layer = 0; layer < layers; layer++) {
            const tensor = info.tensorInfo?.find((t) => t.name === `blk.${layer}.attn_v.weight`);
            if (tensor == null) throw new HeadroomError('NOT_AVAILABLE', `Head knockout needs separate value weights; layer ${layer} has no attn_v.weight.`);
            const layout = BLOCK_LAYOUT[tensor.ggmlType];
            if (layout == null) throw new HeadroomError('NOT_AVAILABLE', `Head knockout does not support tensor type ${tensor.ggmlType} (${tensor.name}).`);
            const [inputs, outputs] = tensor.dimensions.map(Number);
            if (outputs % kvHeads !== 0 || inputs % layout[0] !== 0) throw new HeadroomError('NOT_AVAILABLE', `${tensor.name} has an unexpected shape ${inputs}×${outputs}.`);
            values.push({ tensor, rowBytes: (inputs / layout[0]) * layout[1], headDim: outputs / kvHeads });
        }
        await copyFile(modelPath, scratchPath);
        return new HeadKnockoutFile(scratchPath, await open(scratchPath, 'r+'), values);
    }

    #range({ layer, head }: HeadRef): { at: number; length: number } {
        const rows = this.#values[layer];
        return { at: Number(rows.tensor.fileOffset) + head * rows.headDim * rows.rowBytes, length: rows.headDim * rows.rowBytes };
    }

    /** Zeroes the given heads' value rows (restoring any heads knocked out before). */
    async knockOut(heads: readonly HeadRef[]): Promise<void> {
        await this.restore();
        for (const head of heads) {
            const { at, length } = this.#range(head);
            const original = Buffer.alloc(length);
            await this.#file.read(original, 0, length, at);
            this.#saved.set(`${head.layer}:${head.head}`, original);
            await this.#file.write(Buffer.alloc(length), 0, length, at);
        }
        await this.#file.sync();
    }

    async restore(): Promise<void> {
        for (const [key, original] of this.#saved) {
            const [layer, head] = key.split(':').map(Number);
            await this.#file.write(original, 0, original.length, this.#range({ layer, head }).at);
        }
        this.#saved.clear();
        await this.#file.sync();
    }

    async dispose(): Promise<void> {
        await this.#file.close();
        await rm(this.path, { force: true });
    }
}
