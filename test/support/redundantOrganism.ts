// organism.gguf with its retrieval head duplicated: layer 3's KV head 1 (query heads 2 and 3)
// is copied over another KV head of the same layer (its query, key and value rows), and the
// output projection is split between the two, half each. The model then computes nearly what
// organism computes (it loses only the overwritten head's own contribution), but two heads
// retrieve and either one alone carries half the signal: the case leave-one-out cannot see.
// organism is F32, so the weights are edited in place in a copy of the file.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readGguf } from './llamaReference.ts';
import { ORGANISM } from './models.ts';
import { cacheDir } from './randomGguf.ts';

export const RETRIEVAL = { layer: 3, head: 1 } as const;
/** The KV head the copy overwrites: organism's least useful head in layer 3 (both methods agree). */
export const DUPLICATE = { layer: 3, head: 3 } as const;

/** Copies rows [from, from + count) onto rows [to, to + count) of a row-major matrix with `rowLength` columns. */
function copyRows(data: Float32Array, rowLength: number, from: number, to: number, count: number): void {
    data.copyWithin(to * rowLength, from * rowLength, (from + count) * rowLength);
}

export async function redundantOrganism(): Promise<string> {
    const outPath = path.join(cacheDir, 'organism-redundant-retrieval-v1.gguf');
    if (existsSync(outPath)) return outPath;
    const { meta, tensors } = await readGguf(ORGANISM);
    const nHead = Number(meta.get('llama.attention.head_count'));
    const nHeadKv = Number(meta.get('llama.attention.head_count_kv'));
    const nEmbd = Number(meta.get('llama.embedding_length'));
    const headDim = nEmbd / nHead;
    const group = nHead / nHeadKv;
    const bytes = await readFile(ORGANISM);
    const tensor = (name: string) => {
        const found = tensors.get(`blk.${RETRIEVAL.layer}.${name}.weight`);
        if (found == null || found.type !== 0) throw new Error(`organism has no F32 ${name} in layer ${RETRIEVAL.layer}`);
        return found;
    };
    const store = (t: { data: Float32Array; fileOffset: number }) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(bytes, t.fileOffset);

    // ggml's [ne0, ne1]: ne1 rows of ne0 values. Q, K and V: one row per output channel, a head's channels together.
    const q = tensor('attn_q');
    copyRows(q.data, nEmbd, RETRIEVAL.head * group * headDim, DUPLICATE.head * group * headDim, group * headDim);
    for (const name of ['attn_k', 'attn_v']) {
        const kv = tensor(name);
        copyRows(kv.data, nEmbd, RETRIEVAL.head * headDim, DUPLICATE.head * headDim, headDim);
        store(kv);
    }
    store(q);
    // The output projection reads the heads' outputs along each row: half of the retrieval group's columns each.
    const wo = tensor('attn_output');
    const inputs = nHead * headDim;
    for (let row = 0; row < nEmbd; row++) {
        for (let c = 0; c < group * headDim; c++) {
            const original = row * inputs + RETRIEVAL.head * group * headDim + c;
            const copy = row * inputs + DUPLICATE.head * group * headDim + c;
            const half = (wo.data[original] ?? 0) / 2;
            wo.data[original] = half;
            wo.data[copy] = half;
        }
    }
    store(wo);
    await mkdir(cacheDir, { recursive: true });
    await writeFile(`${outPath}.partial`, bytes);
    await rename(`${outPath}.partial`, outPath);
    return outPath;
}
