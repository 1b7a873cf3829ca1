// Inputs an attacker or a careless user sends, written by the tests themselves: crafted GGUF
// headers, zip bombs, a spine-amplification EPUB, raw HTTP request lines and WebSocket frames
// that no well-behaved client would send.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import JSZip from 'jszip';

// GGUF value types (ggml's gguf.h).
const U8 = 0;
const U32 = 4;
const STRING = 8;
const ARRAY = 9;

/** A little-endian byte writer for GGUF headers. */
class Bytes {
    #parts: Buffer[] = [];
    u32(value: number): this {
        const b = Buffer.alloc(4);
        b.writeUInt32LE(value);
        this.#parts.push(b);
        return this;
    }
    u64(value: bigint): this {
        const b = Buffer.alloc(8);
        b.writeBigUInt64LE(value);
        this.#parts.push(b);
        return this;
    }
    string(text: string, claimedLength?: bigint): this {
        const bytes = Buffer.from(text);
        return this.u64(claimedLength ?? BigInt(bytes.length)).raw(bytes);
    }
    raw(bytes: Buffer): this {
        this.#parts.push(bytes);
        return this;
    }
    get buffer(): Buffer {
        return Buffer.concat(this.#parts);
    }
}

const header = (version: number, tensors: bigint, entries: bigint) => new Bytes().raw(Buffer.from('GGUF')).u32(version).u64(tensors).u64(entries);
const architecture = (bytes: Bytes) => bytes.string('general.architecture').u32(STRING).string('llama');

/** Small GGUF files whose headers lie, each with what it lies about. */
export function craftedGgufs(): Array<{ name: string; bytes: Buffer }> {
    return [
        { name: 'tensor-count-2^63.gguf', bytes: architecture(header(3, 1n << 63n, 1n)).buffer },
        { name: 'metadata-count-2^62.gguf', bytes: architecture(header(3, 1n, 1n << 62n)).buffer },
        { name: 'array-2^40.gguf', bytes: architecture(header(3, 1n, 2n)).string('tokenizer.ggml.scores').u32(ARRAY).u32(U32).u64(1n << 40n).raw(Buffer.alloc(16)).buffer },
        { name: 'string-array-2^40.gguf', bytes: architecture(header(3, 1n, 2n)).string('tokenizer.ggml.tokens').u32(ARRAY).u32(STRING).u64(1n << 40n).raw(Buffer.alloc(16)).buffer },
        { name: 'string-2^60.gguf', bytes: header(3, 1n, 1n).string('general.architecture').u32(STRING).u64(1n << 60n).raw(Buffer.from('llama')).buffer },
        { name: 'key-2^50.gguf', bytes: header(3, 1n, 1n).u64(1n << 50n).raw(Buffer.alloc(32)).buffer },
        { name: 'nested-array.gguf', bytes: architecture(header(3, 1n, 2n)).string('x').u32(ARRAY).u32(ARRAY).u64(1n).u32(U8).u64(1n).raw(Buffer.alloc(8)).buffer },
        { name: 'unknown-type.gguf', bytes: architecture(header(3, 1n, 2n)).string('x').u32(77).raw(Buffer.alloc(32)).buffer },
        { name: 'version-1.gguf', bytes: architecture(header(1, 1n, 1n)).buffer },
        { name: 'version-99.gguf', bytes: architecture(header(99, 1n, 1n)).buffer },
        { name: 'no-architecture.gguf', bytes: header(3, 1n, 1n).string('general.name').u32(STRING).string('x').raw(Buffer.alloc(64)).buffer },
        { name: 'no-tensors.gguf', bytes: architecture(header(3, 0n, 1n)).buffer },
        { name: 'five-dims.gguf', bytes: architecture(header(3, 1n, 1n)).string('t').u32(5).u64(1n).u64(1n).u64(1n).u64(1n).u64(1n).u32(0).u64(0n).buffer },
        { name: 'tensor-past-end.gguf', bytes: architecture(header(3, 1n, 1n)).string('t').u32(2).u64(4096n).u64(4096n).u32(0).u64(0n).buffer },
        { name: 'header-only.gguf', bytes: Buffer.from('GGUF') },
        { name: 'random-bytes.gguf', bytes: randomBytes(4096) },
    ];
}

/** A DOCX whose body inflates to `megabytes` of empty paragraphs: a few hundred KB on disk. */
export async function docxBomb(megabytes: number): Promise<Buffer> {
    const zip = new JSZip();
    zip.file('[Content_Types].xml', '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>');
    zip.file('_rels/.rels', '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>');
    const paragraphs = '<w:p/>'.repeat(Math.ceil((megabytes * 1024 * 1024) / 6));
    zip.file('word/document.xml', `<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${paragraphs}</w:body></w:document>`);
    return zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE', compressionOptions: { level: 9 } });
}

function epubShell(zip: JSZip, manifest: string, spine: string): void {
    zip.file('mimetype', 'application/epub+zip', { compression: 'STORE' });
    zip.file('META-INF/container.xml', '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>');
    zip.file('OEBPS/content.opf', `<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0"><manifest>${manifest}</manifest><spine>${spine}</spine></package>`);
}

/** An EPUB whose spine lists its one chapter `times` times. */
export async function spineAmplificationEpub(times: number, chapterText: string): Promise<Buffer> {
    const zip = new JSZip();
    epubShell(zip, '<item id="c" href="c.xhtml" media-type="application/xhtml+xml"/>', '<itemref idref="c"/>'.repeat(times));
    zip.file('OEBPS/c.xhtml', `<html><body><p>${chapterText}</p></body></html>`);
    return zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE', compressionOptions: { level: 9 } });
}

/** An EPUB with chapters that inflate to `megabytes` each. */
export async function epubBomb(chapters: number, megabytes: number): Promise<Buffer> {
    const zip = new JSZip();
    const ids = Array.from({ length: chapters }, (_, i) => `c${i}`);
    epubShell(zip, ids.map((id) => `<item id="${id}" href="${id}.xhtml" media-type="application/xhtml+xml"/>`).join(''), ids.map((id) => `<itemref idref="${id}"/>`).join(''));
    const body = 'a'.repeat(megabytes * 1024 * 1024);
    for (const id of ids) zip.file(`OEBPS/${id}.xhtml`, `<html><body><p>${body}</p></body></html>`);
    return zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE', compressionOptions: { level: 9 } });
}

/** An EPUB whose manifest href has a malformed percent escape (decodeURIComponent throws "URI malformed"). */
export async function badEscapeEpub(text: string): Promise<Buffer> {
    const zip = new JSZip();
    epubShell(zip, '<item id="c" href="ch%E0%A4%A.xhtml" media-type="application/xhtml+xml"/>', '<itemref idref="c"/>');
    zip.file('OEBPS/ch%E0%A4%A.xhtml', `<html><body><p>${text}</p></body></html>`);
    return zip.generateAsync({ type: 'nodebuffer' });
}

/** A DOCX whose body is not well-formed XML (the XML parser's own error must not reach the user). */
export async function brokenXmlDocx(): Promise<Buffer> {
    const zip = new JSZip();
    zip.file('[Content_Types].xml', '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>');
    zip.file('_rels/.rels', '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>');
    zip.file('word/document.xml', '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>unclosed');
    return zip.generateAsync({ type: 'nodebuffer' });
}

/** Sends raw bytes to a server and resolves with its status code (0 when it closed without one). */
export function rawRequest(port: number, request: string | Buffer): Promise<number> {
    return new Promise((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        let answer = '';
        const status = () => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
        socket.on('data', (chunk) => {
            answer += chunk.toString('latin1');
            if (status() !== 0) socket.destroy(); // the status line is all we wanted
        });
        socket.on('error', () => {});
        socket.on('close', () => resolve(status()));
        socket.setTimeout(10_000, () => socket.destroy());
        socket.write(request);
    });
}

/** A client-to-server WebSocket frame (masked, as clients must), claiming `claimedLength` when given. */
export function wsFrame(opcode: number, payload: Buffer, claimedLength?: bigint): Buffer {
    const length = claimedLength ?? BigInt(payload.length);
    const head = [0x80 | opcode];
    let extended = Buffer.alloc(0);
    if (length < 126n) head.push(0x80 | Number(length));
    else if (length < 65536n) {
        head.push(0x80 | 126);
        extended = Buffer.alloc(2);
        extended.writeUInt16BE(Number(length));
    } else {
        head.push(0x80 | 127);
        extended = Buffer.alloc(8);
        extended.writeBigUInt64BE(length);
    }
    const mask = randomBytes(4);
    const masked = Buffer.from(payload.map((byte, i) => byte ^ (mask[i % 4] ?? 0)));
    return Buffer.concat([Buffer.from(head), extended, mask, masked]);
}

/**
 * Opens the RPC socket by hand, sends `frame` and resolves with how the server answered: the
 * close code it sent, or the text frames it sent up to its response (or until `waitMs`).
 */
export function rawSocket(port: number, token: string, frame: Buffer, waitMs = 3000): Promise<{ closeCode: number | null; texts: string[] }> {
    return new Promise((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        let buffer = Buffer.alloc(0);
        let upgraded = false;
        const texts: string[] = [];
        let closeCode: number | null = null;
        const finish = () => {
            clearTimeout(timer);
            socket.destroy();
            resolve({ closeCode, texts });
        };
        const timer = setTimeout(finish, waitMs);
        socket.on('error', () => {});
        socket.on('close', finish);
        socket.on('data', (chunk) => {
            buffer = Buffer.concat([buffer, chunk]);
            if (!upgraded) {
                const end = buffer.indexOf('\r\n\r\n');
                if (end < 0) return;
                if (!buffer.subarray(0, end).toString('latin1').startsWith('HTTP/1.1 101')) return finish();
                upgraded = true;
                buffer = buffer.subarray(end + 4);
                socket.write(frame);
            }
            // Server frames are unmasked; read whole ones.
            while (buffer.length >= 2) {
                const opcode = (buffer[0] ?? 0) & 0x0f;
                let length = (buffer[1] ?? 0) & 0x7f;
                let offset = 2;
                if (length === 126) {
                    length = buffer.readUInt16BE(2);
                    offset = 4;
                } else if (length === 127) {
                    length = Number(buffer.readBigUInt64BE(2));
                    offset = 10;
                }
                if (buffer.length < offset + length) return;
                const payload = buffer.subarray(offset, offset + length);
                buffer = buffer.subarray(offset + length);
                if (opcode === 1) texts.push(payload.toString('utf8'));
                if (opcode === 1 && payload.includes('"type":"response"')) return finish(); // answered
                if (opcode === 8) {
                    closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
                    return finish();
                }
            }
        });
        socket.write(`GET /rpc?token=${token} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`);
    });
}

// GGUF value types that rewriteGguf writes.
const I32 = 5;
const F32 = 6;
const U64 = 10;
const F64 = 12;
const SCALAR_BYTES: Partial<Record<number, number>> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/**
 * A real GGUF with some metadata changed (a number keeps its entry's type, a new number is a u32,
 * or an f32 when it is not whole), added, or removed (null); the tensors are kept as they were.
 * How a hostile or badly converted model file is made from one that works.
 */
export function rewriteGguf(bytes: Buffer, changes: Record<string, number | string | null>): Buffer {
    let offset = 24;
    const readString = () => {
        const length = Number(bytes.readBigUInt64LE(offset));
        const text = bytes.toString('utf8', offset + 8, offset + 8 + length);
        offset += 8 + length;
        return text;
    };
    const skip = (type: number): void => {
        if (type === STRING) readString();
        else if (type === ARRAY) {
            const elementType = bytes.readUInt32LE(offset);
            const count = Number(bytes.readBigUInt64LE(offset + 4));
            offset += 12;
            for (let i = 0; i < count; i++) skip(elementType);
        } else offset += SCALAR_BYTES[type] ?? 0;
    };
    const encode = (key: string, type: number, value: number | string): Buffer => {
        const out = new Bytes().string(key).u32(type);
        if (typeof value === 'string') return out.string(value).buffer;
        const b = Buffer.alloc(SCALAR_BYTES[type] ?? 4);
        if (type === F32) b.writeFloatLE(value);
        else if (type === F64) b.writeDoubleLE(value);
        else if (type === U32) b.writeUInt32LE(value);
        else if (type === I32) b.writeInt32LE(value);
        else if (type === U64) b.writeBigUInt64LE(BigInt(value));
        else throw new Error(`rewriteGguf: cannot write a number as GGUF type ${type}`);
        return Buffer.concat([out.buffer, b]);
    };
    const tensorCount = Number(bytes.readBigUInt64LE(8));
    const entryCount = Number(bytes.readBigUInt64LE(16));
    const entries: Buffer[] = [];
    const left = new Map(Object.entries(changes));
    let alignment = 32;
    for (let i = 0; i < entryCount; i++) {
        const start = offset;
        const key = readString();
        const type = bytes.readUInt32LE(offset);
        offset += 4;
        if (key === 'general.alignment') alignment = bytes.readUInt32LE(offset);
        skip(type);
        if (!left.has(key)) {
            entries.push(bytes.subarray(start, offset));
            continue;
        }
        const value = left.get(key);
        left.delete(key);
        if (value == null) continue;
        entries.push(encode(key, typeof value === 'string' ? STRING : type, value));
    }
    for (const [key, value] of left) {
        if (value == null) continue;
        entries.push(encode(key, typeof value === 'string' ? STRING : Number.isInteger(value) && value >= 0 ? U32 : F32, value));
    }
    const infosStart = offset;
    for (let i = 0; i < tensorCount; i++) {
        readString();
        const dims = bytes.readUInt32LE(offset);
        offset += 4 + dims * 8 + 4 + 8;
    }
    const infos = bytes.subarray(infosStart, offset);
    const data = bytes.subarray(Math.ceil(offset / alignment) * alignment);
    const head = Buffer.concat([header(3, BigInt(tensorCount), BigInt(entries.length)).buffer, ...entries, infos]);
    return Buffer.concat([head, Buffer.alloc(Math.ceil(head.length / alignment) * alignment - head.length), data]);
}

/** Hyperparameters llama.cpp aborts on (or misreads), each written into a copy of `model` (an llama-architecture GGUF). */
export function impossibleHyperparameters(model: Buffer): Array<{ name: string; field: string; bytes: Buffer }> {
    const cases: Array<[string, string, number | string]> = [
        ['eps-nan.gguf', 'llama.attention.layer_norm_rms_epsilon', Number.NaN],
        ['eps-negative.gguf', 'llama.attention.layer_norm_rms_epsilon', -1e-5],
        ['eps-infinite.gguf', 'llama.attention.layer_norm_rms_epsilon', Number.POSITIVE_INFINITY],
        ['kv-heads-0.gguf', 'llama.attention.head_count_kv', 0],
        ['kv-heads-not-dividing.gguf', 'llama.attention.head_count_kv', 3],
        ['heads-0.gguf', 'llama.attention.head_count', 0],
        ['layers-0.gguf', 'llama.block_count', 0],
        ['layers-513.gguf', 'llama.block_count', 513],
        ['context-0.gguf', 'llama.context_length', 0],
        ['context-2^32-1.gguf', 'llama.context_length', 2 ** 32 - 1],
        ['embedding-0.gguf', 'llama.embedding_length', 0],
        ['experts-used-without-experts.gguf', 'llama.expert_used_count', 2],
        ['rope-scaling-unknown.gguf', 'llama.rope.scaling.type', 'sideways'],
    ];
    return cases.map(([name, field, value]) => ({ name, field, bytes: rewriteGguf(model, { [field]: value }) }));
}
