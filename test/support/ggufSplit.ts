// Splits a GGUF into parts the way llama.cpp's gguf-split does (its examples/gguf-split):
// <stem>-00001-of-0000N.gguf holds every metadata entry, each part holds whole tensors and the
// entries split.no (u16), split.count (u16) and split.tensors.count (i32). llama.cpp loads the
// first part and finds the rest by name; node-llama-cpp downloads and reads them the same way.
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { readRawMetadata } from './randomGguf.ts';

const GGUF_MAGIC = 0x46554747;
const ALIGNMENT = 32;
const align = (n: number) => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

interface Tensor {
    /** name, dims and type, encoded as in the file (without the offset). */
    head: Buffer;
    offset: number;
    bytes: number;
}

function keyEntry(key: string, type: number, value: Buffer): Buffer {
    const name = Buffer.from(key, 'utf8');
    const header = Buffer.alloc(8 + name.length + 4);
    header.writeBigUInt64LE(BigInt(name.length), 0);
    name.copy(header, 8);
    header.writeUInt32LE(type, 8 + name.length);
    return Buffer.concat([header, value]);
}

function splitEntries(index: number, count: number, tensors: number): Buffer[] {
    const u16 = (v: number) => Buffer.from(new Uint16Array([v]).buffer);
    const i32 = (v: number) => Buffer.from(new Int32Array([v]).buffer);
    return [keyEntry('split.no', 2, u16(index)), keyEntry('split.count', 2, u16(count)), keyEntry('split.tensors.count', 5, i32(tensors))];
}

/** Writes `parts` files next to `outStem` and returns their paths, first part first. */
export async function splitGguf(file: string, outStem: string, parts: number): Promise<string[]> {
    const data = await readFile(file);
    if (data.readUInt32LE(0) !== GGUF_MAGIC) throw new Error(`${file} is not a GGUF file`);
    const metadata = await readRawMetadata(file);
    const tensorCount = Number(data.readBigUInt64LE(8));
    let offset = 24 + [...metadata.values()].reduce((sum, entry) => sum + entry.length, 0);
    const starts: { head: Buffer; offset: number }[] = [];
    for (let i = 0; i < tensorCount; i++) {
        const start = offset;
        const nameLength = Number(data.readBigUInt64LE(offset));
        offset += 8 + nameLength;
        const dims = data.readUInt32LE(offset);
        offset += 4 + dims * 8 + 4;
        starts.push({ head: data.subarray(start, offset), offset: Number(data.readBigUInt64LE(offset)) });
        offset += 8;
    }
    const dataStart = align(offset);
    // A tensor's bytes run to the next one's offset (the writer pads each to the alignment).
    const tensors: Tensor[] = starts.map((t, i) => ({ ...t, bytes: (starts[i + 1]?.offset ?? data.length - dataStart) - t.offset }));

    const perPart = Math.ceil(tensors.length / parts);
    const paths: string[] = [];
    for (let part = 0; part < parts; part++) {
        const own = tensors.slice(part * perPart, (part + 1) * perPart);
        const entries = [...(part === 0 ? [...metadata.values()] : []), ...splitEntries(part, parts, tensors.length)];
        const header = Buffer.alloc(24);
        header.writeUInt32LE(GGUF_MAGIC, 0);
        header.writeUInt32LE(3, 4);
        header.writeBigUInt64LE(BigInt(own.length), 8);
        header.writeBigUInt64LE(BigInt(entries.length), 16);
        let position = 0;
        const infos = own.map((tensor) => {
            const at = Buffer.alloc(8);
            at.writeBigUInt64LE(BigInt(position));
            position += align(tensor.bytes);
            return Buffer.concat([tensor.head, at]);
        });
        const head = Buffer.concat([header, ...entries, ...infos]);
        const out = `${outStem}-${String(part + 1).padStart(5, '0')}-of-${String(parts).padStart(5, '0')}.gguf`;
        const handle = await open(out, 'w');
        try {
            await handle.write(head, 0, head.length, 0);
            let at = align(head.length);
            for (const tensor of own) {
                await handle.write(data, dataStart + tensor.offset, tensor.bytes, at);
                at += align(tensor.bytes);
            }
            await handle.truncate(at);
        } finally {
            await handle.close();
        }
        paths.push(path.resolve(out));
    }
    return paths;
}
