// A model file's sha256: what head profiles are stored by and what a KV snapshot's model key
// holds. Hashing a multi-GB model reads all of it (seconds to minutes), so each hash is kept on
// disk by the file's path and version (size, modification time, status-change time, inode): a
// load, or a new engine host, reads the file again only when it changed. The status-change time
// is what no copy can set: `cp -p` of another model of the same size keeps the mtime, not it. The cache is a small JSON file in Headroom's cache folder
// (common/paths.ts; HEADROOM_MODEL_HASHES names another, as the backend does for its hosts).
import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { HeadroomError, noModelFile } from '../common/errors.ts';
import { dataPaths } from '../common/paths.ts';

/** Where the hashes are kept: HEADROOM_MODEL_HASHES, else Headroom's cache folder. */
export function modelHashesFile(): string {
    return dataPaths({ home: os.homedir(), env: process.env, platform: process.platform }).modelHashes;
}

export async function sha256OfFile(filePath: string): Promise<string> {
    const hash = createHash('sha256');
    try {
        for await (const chunk of createReadStream(filePath)) hash.update(chunk as Buffer);
    } catch {
        throw noModelFile(filePath);
    }
    return hash.digest('hex');
}

/** What identifies one version of a file: any write, copy over it or replacement changes one of these. */
const FileVersion = z.object({ size: z.number(), mtimeMs: z.number(), ctimeMs: z.number(), ino: z.number() });
type FileVersion = z.infer<typeof FileVersion>;
const versionOf = (info: Stats): FileVersion => ({ size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, ino: info.ino });
const sameVersion = (a: Partial<FileVersion>, b: FileVersion) => a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;
// entries written before the version held ctime and inode parse, and match nothing (read once more)
const Entry = FileVersion.partial({ ctimeMs: true, ino: true }).extend({ path: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) });
type Entry = z.infer<typeof Entry>;
/** Files remembered at most: the newest are kept. */
const MAX_ENTRIES = 512;
/** Files this large get a line on stderr while they are hashed. */
const SAY_HASHING_FROM = 500e6;

/** sha256 of model files, remembered in memory and in `file` while a file's version holds. */
export class ModelHashes {
    readonly file: string;
    /** Files actually read to hash them (not answered from a cache): what tests count. */
    hashed = 0;
    #memory = new Map<string, { version: FileVersion; sha256: Promise<string> }>();
    #writes: Promise<void> = Promise.resolve();

    constructor(file: string) {
        this.file = file;
    }

    async #stored(): Promise<Entry[]> {
        try {
            const parsed = z.array(Entry).safeParse(JSON.parse(await readFile(this.file, 'utf8')));
            return parsed.success ? parsed.data : [];
        } catch {
            return []; // none yet, or unreadable: hashed again, and written anew
        }
    }

    /** Remembers one hash on disk (written whole, then renamed; writes one at a time). A cache that cannot be written costs only time. */
    #remember(entry: Entry): Promise<void> {
        this.#writes = this.#writes.then(async () => {
            const others = (await this.#stored()).filter((e) => e.path !== entry.path);
            const entries = [...others, entry].slice(-MAX_ENTRIES);
            await mkdir(path.dirname(this.file), { recursive: true });
            const temporary = `${this.file}.${process.pid}.tmp`;
            await writeFile(temporary, `${JSON.stringify(entries, null, 1)}\n`);
            await rename(temporary, this.file);
        }).catch((error: unknown) => console.error(`Headroom could not keep model hashes in ${this.file}: ${(error as Error).message}`));
        return this.#writes;
    }

    /** The sha256 of a model file: from memory, else from the disk cache, else read (and remembered) while its version holds. */
    async sha256(filePath: string): Promise<string> {
        const key = path.resolve(filePath);
        const info = await stat(key).catch(() => null);
        if (info == null) throw noModelFile(filePath);
        // Only a regular file has an end: /dev/zero would be hashed for ever.
        if (!info.isFile()) throw new HeadroomError('BAD_REQUEST', `${path.basename(filePath)} is not a regular file, so it is not a model file.`);
        const version = versionOf(info);
        const known = this.#memory.get(key);
        if (known != null && sameVersion(known.version, version)) return known.sha256;
        const sha256 = this.#lookUpOrHash(key, version);
        this.#memory.set(key, { version, sha256 });
        sha256.catch(() => this.#memory.delete(key));
        return sha256;
    }

    async #lookUpOrHash(key: string, version: FileVersion): Promise<string> {
        const stored = (await this.#stored()).find((e) => e.path === key && sameVersion(e, version));
        if (stored != null) return stored.sha256;
        // said where it takes a while (about a second per GB here); a small file's hash is instant
        if (version.size >= SAY_HASHING_FROM) console.error(`Headroom: reading ${path.basename(key)} (${(version.size / 1e9).toFixed(1)} GB) once for its sha256`);
        this.hashed++;
        const sha256 = await sha256OfFile(key);
        // Changed while it was read: not remembered (the next look reads it again).
        const after = await stat(key).catch(() => null);
        if (after != null && sameVersion(versionOf(after), version)) await this.#remember({ path: key, ...version, sha256 });
        return sha256;
    }
}

let shared: ModelHashes | null = null;

/** The process's cache, in modelHashesFile(). */
export function modelHashes(): ModelHashes {
    const file = modelHashesFile();
    if (shared?.file !== file) shared = new ModelHashes(file);
    return shared;
}

/** sha256 of a model file, read once per file version across processes. */
export function modelSha256(filePath: string): Promise<string> {
    return modelHashes().sha256(filePath);
}
