// The documents' KV state on disk (snapshots/<chat>.kvstate), so a chat reopens without reading
// its documents again. llama.cpp reads a state file as it finds it: a file cut in half aborts
// the engine host on every turn of that chat, and a state saved with another model (or another
// file under the same name) fills the cache with the wrong model's keys. So every snapshot has
// a header of Headroom's own beside it (<chat>.kvstate.header: what it is, its version, the model
// it was saved with, the payload's length and sha256), written after the payload and checked
// whole before llama.cpp may read the payload. Anything amiss, and the documents are read again.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { LlamaContextSequence } from 'node-llama-cpp';
import { z } from 'zod';

const FORMAT = 'headroom-kv-snapshot';
const VERSION = 1;

const Header = z.object({
    format: z.literal(FORMAT),
    version: z.literal(VERSION),
    /** What the state depends on: the model file's sha256, the context size and the cache's layout. */
    model: z.string().min(1),
    payloadBytes: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
}).strict();

/** Where a snapshot's header lives, beside its payload. */
export const snapshotHeaderFile = (file: string) => `${file}.header`;

async function digest(file: string): Promise<{ bytes: number; sha256: string }> {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
        hash.update(chunk);
        bytes += chunk.length;
    }
    return { bytes, sha256: hash.digest('hex') };
}

/**
 * Why the snapshot at `file` must not be given to llama.cpp for `model`, in words for the log; null
 * when its header is Headroom's, names this model, and the payload is whole (its length and sha256).
 */
export async function snapshotProblem(file: string, model: string): Promise<string | null> {
    let header: z.infer<typeof Header>;
    try {
        const parsed = Header.safeParse(JSON.parse(await readFile(snapshotHeaderFile(file), 'utf8')));
        if (!parsed.success) return 'its header is not one Headroom wrote';
        header = parsed.data;
    } catch {
        return 'it has no readable header (written by an older Headroom, or damaged)';
    }
    if (header.model !== model) return 'it was saved with another model file, context size or cache layout';
    const info = await stat(file).catch(() => null);
    if (info == null || !info.isFile()) return 'its payload is missing, or is not a file';
    if (info.size !== header.payloadBytes) return `its payload is ${info.size} bytes instead of ${header.payloadBytes} (cut short or grown)`;
    const actual = await digest(file).catch(() => null);
    if (actual?.sha256 !== header.sha256) return 'its payload does not match its checksum';
    return null;
}

/** Restores the snapshot into `sequence` once it passes snapshotProblem; throws (the caller reads the documents again) when it does not. */
export async function restoreSnapshot(sequence: LlamaContextSequence, file: string, model: string): Promise<void> {
    const problem = await snapshotProblem(file, model);
    if (problem != null) throw new Error(`the KV snapshot ${path.basename(file)} was not used: ${problem}`);
    await sequence.loadStateFromFile(file, { acceptRisk: true });
}

/**
 * Saves `sequence`'s state as the snapshot at `file`: the payload and its header are written under
 * names of their own, the old header goes first and the new one last, so a reader never finds a
 * header that vouches for a payload it was not written for.
 */
export async function saveSnapshot(sequence: LlamaContextSequence, file: string, model: string): Promise<void> {
    await mkdir(path.dirname(file), { recursive: true });
    const headerFile = snapshotHeaderFile(file);
    const partial = `${file}.partial`;
    const partialHeader = `${headerFile}.partial`;
    try {
        await sequence.saveStateToFile(partial);
        const { bytes, sha256 } = await digest(partial);
        const header: z.infer<typeof Header> = { format: FORMAT, version: VERSION, model, payloadBytes: bytes, sha256 };
        await writeFile(partialHeader, `${JSON.stringify(header)}\n`);
        await rm(headerFile, { force: true });
        await rename(partial, file);
        await rename(partialHeader, headerFile);
    } catch (error) {
        await Promise.all([rm(partial, { force: true }), rm(partialHeader, { force: true })]); // only our own half-written files
        throw error;
    }
}
