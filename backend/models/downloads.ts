// Downloads models into Headroom's models folder with node-llama-cpp's downloader (hf: URIs,
// URLs, split GGUF files, resumable: ipull keeps a partial file as <name>.ipull until the
// last byte is in). Around it: a quick look at the URL before anything is written, a free
// disk check, progress with speed and time left, cancel, a watchdog for downloads that stop
// moving, and a check of the finished file (size, sha256 when known, a GGUF header), so a
// half or wrong file never sits in the folder under a model's name.
//
// A download never writes over, or deletes, a file it did not make: it is written under a
// hidden name of its own (stagingName: the same on every try, so a cut-off download resumes),
// checked there, and only then given its model name, or `name (2).gguf` when that name is taken
// (a hard link, which fails rather than replace a file). A failed check deletes only the
// download's own file. A model already in the folder under the name, of the size the server
// has, and passing the same check, is taken as the download, as node-llama-cpp's downloader did.
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, lstat, mkdir, rename, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import type { ModelDownloader } from 'node-llama-cpp';
import { z } from 'zod';
import { errorMessage, HeadroomError } from '../../common/errors.ts';
import { DownloadRequest, formatSize, isFinished, isRemoteModelSource, type DownloadState } from '../../common/models.ts';
import type { KeyValueStore } from '../settings.ts';
import { readModelHeader } from './gguf.ts';
import { TransferRate } from './transferRate.ts';

/** Room left on the disk after a download, for the OS and everything else. */
const SPARE_DISK_BYTES = 256 * 1024 * 1024;
const JOURNAL_KEY = 'models.downloads';

export interface DownloadManagerOptions {
    /** Where downloads go: the models folder as the settings have it when a download starts. */
    folder: () => string;
    /** Every change of a download's state; progress at most every `progressIntervalMs`. */
    onChange: (state: DownloadState) => void;
    /** Downloads survive a restart here: an unfinished one comes back as interrupted, to resume. */
    journal?: KeyValueStore;
    /** Free bytes where a folder lives (default: fs.statfs); tests simulate a full disk with it. */
    freeBytes?: (folder: string) => Promise<number>;
    /** A download that gets no new bytes for this long stops, keeping what it has. */
    stallMs?: number;
    progressIntervalMs?: number;
    /**
     * Where hf: URIs resolve (node-llama-cpp's `endpoints.huggingFace`; by default HF_ENDPOINT or
     * huggingface.co). Only hf: downloads get it: node-llama-cpp reads any URL on that host as a repo.
     */
    huggingFaceEndpoint?: string;
}

/** What the journal keeps of each download. */
const JournalEntry = z.object({
    id: z.string(),
    source: z.string(),
    sha256: z.string().optional(),
    fileName: z.string().nullable(),
    path: z.string().nullable(),
    status: z.string(),
    startedAt: z.number(),
});
type JournalEntry = z.infer<typeof JournalEntry>;

interface Active {
    state: DownloadState;
    request: DownloadRequest;
    downloader: ModelDownloader | null;
    /** Why it stopped before the end, once it did: the user cancelled, it stalled, or Headroom is closing. */
    stopped: 'cancelled' | 'stalled' | 'closing' | null;
    /** Aborted when it stops, for the steps before the downloader exists. */
    abort: AbortController;
    done: Promise<DownloadState>;
}

async function diskFreeBytes(folder: string): Promise<number> {
    const info = await statfs(folder);
    return Number(info.bavail) * Number(info.bsize);
}


const hostOf = (url: string) => {
    try {
        return new URL(url).host;
    } catch {
        return url;
    }
};

/** A network failure (fetch's TypeError and its cause) in words. */
function networkProblem(error: unknown, url: string): string {
    const cause = (error as { cause?: { code?: string; message?: unknown } } | null)?.cause;
    const code = cause?.code ?? (error as { code?: string } | null)?.code;
    // fetch follows 20 redirects, then gives up with this cause.
    if (cause?.message === 'redirect count exceeded') return `${url} redirects in a loop (more than 20 redirects without reaching a file); the address is wrong or the server is misconfigured`;
    if (code === 'ECONNREFUSED') return `${hostOf(url)} refused the connection`;
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `${hostOf(url)} could not be found (no network, or a wrong address?)`;
    if ((error as Error | null)?.name === 'TimeoutError') return `${hostOf(url)} did not answer`;
    return `${hostOf(url)} could not be reached (${code ?? errorMessage(error)})`;
}

/** What a status code means for a download, in words. */
function httpProblem(status: number, statusText: string, url: string): string {
    if (status === 404) return 'the server has no file there (404 Not Found)';
    if (status === 401 || status === 403) return `${hostOf(url)} refused access to the file (${status} ${statusText}); it may need a login or an access token`;
    return `${hostOf(url)} answered ${status} ${statusText}`;
}

/**
 * Asks for the first byte of a URL before the downloader starts: node-llama-cpp's downloader
 * retries a failing address for minutes, where this answers a wrong one in a moment.
 */
async function checkUrl(url: string, signal: AbortSignal): Promise<void> {
    let response: Response;
    try {
        response = await fetch(url, { headers: { range: 'bytes=0-0' }, signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)]) });
    } catch (error) {
        if (signal.aborted) throw error;
        throw new Error(networkProblem(error, url), { cause: error });
    }
    await response.body?.cancel().catch(() => {});
    if (!response.ok) throw new Error(httpProblem(response.status, response.statusText, url));
}

/** node-llama-cpp's and ipull's errors, said for a person. */
function describeFailure(error: unknown, source: string): string {
    // ipull's StatusCodeError: the status of the file's own request.
    const status = (error as { statusCode?: unknown; statusText?: unknown; url?: unknown } | null);
    if (typeof status?.statusCode === 'number') {
        return httpProblem(status.statusCode, typeof status.statusText === 'string' ? status.statusText : '', typeof status.url === 'string' ? status.url : source);
    }
    if (error instanceof TypeError && errorMessage(error) === 'fetch failed') return networkProblem(error, source);
    return errorMessage(error).replace(/\.$/, '');
}

async function sha256Of(file: string): Promise<string> {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) hash.update(chunk);
    return hash.digest('hex');
}

/**
 * The hidden name a download of `source` is written under until it is checked: the models scan
 * skips hidden files, no two sources share it, and every try of one source uses it (so ipull
 * finds `<it>.ipull` and resumes). A split model's parts follow node-llama-cpp's part naming.
 */
export function stagingName(source: string, fileName: string): string {
    return `.download-${createHash('sha256').update(source).digest('hex').slice(0, 12)}-${fileName}`;
}

/** `name.gguf` as `name (n).gguf`; a split part keeps its `-00001-of-00003` after the number. */
export function numberedName(fileName: string, n: number): string {
    if (n <= 1) return fileName;
    const match = /^(.*?)(-\d{5}-of-\d{5})?(\.gguf)?$/i.exec(fileName);
    return `${match?.[1] ?? fileName} (${n})${match?.[2] ?? ''}${match?.[3] ?? ''}`;
}

const exists = async (file: string) => (await lstat(file).catch(() => null)) != null;

/** Hard links are not everywhere (FAT and exFAT drives, some network shares). */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK']);

/**
 * Gives checked files their model names: the first of `name`, `name (2)`, `name (3)`… under which
 * none of the parts exists. A hard link cannot replace a file (EEXIST), so nothing is overwritten
 * even when another program writes the name meanwhile; where there are none, a rename after a look.
 */
export async function placeDownload(folder: string, staged: readonly string[], names: readonly string[]): Promise<string[]> {
    for (let n = 1; n <= 1000; n++) {
        const targets = names.map((name) => path.join(folder, numberedName(name, n)));
        const made: string[] = [];
        let taken = false;
        let linksWork = true;
        for (const [index, target] of targets.entries()) {
            try {
                await link(staged[index] ?? '', target);
                made.push(target);
            } catch (error) {
                const code = (error as NodeJS.ErrnoException).code ?? '';
                if (code === 'EEXIST') taken = true;
                else if (NO_HARD_LINKS.has(code)) linksWork = false;
                else {
                    await Promise.all(made.map((file) => rm(file, { force: true })));
                    throw error;
                }
                break;
            }
        }
        if (taken || !linksWork) await Promise.all(made.map((file) => rm(file, { force: true }))); // only the links just made
        if (taken) continue;
        if (linksWork) {
            await Promise.all(staged.map((file) => rm(file, { force: true })));
            return targets;
        }
        if ((await Promise.all(targets.map(exists))).some(Boolean)) continue;
        for (const [index, target] of targets.entries()) await rename(staged[index] ?? '', target);
        return targets;
    }
    throw new Error(`every name from ${names[0]} to ${numberedName(names[0] ?? '', 1000)} is taken in ${folder}`);
}

/** A model's files as the downloader describes them. */
interface FileInfo {
    fileName: string;
    filePath: string;
    totalSize: number;
}

export class DownloadManager {
    #options: DownloadManagerOptions;
    #downloads = new Map<string, Active>();
    /** Ended downloads from earlier sessions and this one, newest last. */
    #ended: DownloadState[] = [];
    /** After dispose: the journal's database may be closed. */
    #closed = false;

    constructor(options: DownloadManagerOptions) {
        this.#options = options;
        // Downloads that were running when Headroom last closed: offered again, to resume.
        for (const entry of this.#journal()) {
            if (entry.status === 'done' || entry.status === 'cancelled') continue;
            this.#ended.push({
                id: entry.id, source: entry.source, fileName: entry.fileName, status: 'failed', receivedBytes: 0, totalBytes: 0,
                resumedFromBytes: 0, bytesPerSecond: 0, etaSeconds: null, path: null, open: false, startedAt: entry.startedAt, sha256: entry.sha256 ?? null,
                error: entry.status === 'failed' ? 'This download failed earlier. Try again to resume it.' : 'Interrupted when Headroom closed. Try again to resume it.',
            });
        }
    }

    /** Starts a download and answers at once; its progress and end arrive through onChange. */
    start(input: DownloadRequest): DownloadState {
        const request = DownloadRequest.parse(input);
        if (!isRemoteModelSource(request.source)) {
            throw new HeadroomError('BAD_REQUEST', `"${request.source}" is not a model address: use hf:<user>/<repo>:<quant>, hf:<user>/<repo>/<file>.gguf, or an http(s) URL.`, 'source');
        }
        const running = [...this.#downloads.values()].find((d) => d.request.source === request.source);
        if (running != null) return running.state;
        const state: DownloadState = {
            id: randomUUID(), source: request.source, fileName: null, status: 'resolving', receivedBytes: 0, totalBytes: 0,
            resumedFromBytes: 0, bytesPerSecond: 0, etaSeconds: null, path: null, error: null, open: request.open ?? false, startedAt: Date.now(),
            sha256: request.sha256 ?? null,
        };
        // A retry replaces the earlier attempt in the list.
        this.#ended = this.#ended.filter((ended) => ended.source !== request.source);
        const active: Active = { state, request, downloader: null, stopped: null, abort: new AbortController(), done: Promise.resolve(state) };
        this.#downloads.set(state.id, active);
        active.done = this.#run(active);
        return { ...state };
    }

    /** Resolves with the download's final state. */
    async finished(id: string): Promise<DownloadState> {
        const active = this.#downloads.get(id);
        if (active != null) return active.done;
        const ended = this.#ended.find((state) => state.id === id);
        if (ended == null) throw new HeadroomError('NOT_FOUND', 'No such download.');
        return ended;
    }

    /** Stops a download and deletes what it had written. */
    cancel(id: string): boolean {
        const active = this.#downloads.get(id);
        if (active == null) return false;
        this.#stop(active, 'cancelled');
        return true;
    }

    list(): DownloadState[] {
        return [...this.#ended, ...[...this.#downloads.values()].map((d) => ({ ...d.state }))];
    }

    /** Files being written or checked: not models yet. */
    isInProgress(file: string): boolean {
        return [...this.#downloads.values()].some((d) => d.downloader?.filesInfo.some((f) => f.filePath === file));
    }

    /** Where a finished download of this source is, while the file is still there. */
    async downloadedPath(source: string): Promise<string | null> {
        const entry = this.#journal().findLast((e) => e.source === source && e.status === 'done' && e.path != null);
        if (entry?.path == null) return null;
        return (await stat(entry.path).catch(() => null))?.isFile() ? entry.path : null;
    }

    /**
     * Stops every download, keeping the partial files, so the next session resumes them. The
     * journal is written before this returns (the database closes next); the files close after.
     */
    dispose(): Promise<void> {
        const running = [...this.#downloads.values()];
        for (const active of running) {
            this.#stop(active, 'closing');
            this.#record(active);
        }
        this.#closed = true;
        return Promise.all(running.map((active) => active.done)).then(() => {});
    }

    #stop(active: Active, why: NonNullable<Active['stopped']>): void {
        if (active.stopped != null) return;
        active.stopped = why;
        active.abort.abort(new Error(why));
        void active.downloader?.cancel({ deleteTempFile: why === 'cancelled' }).catch(() => {});
    }

    #journal(): JournalEntry[] {
        const parsed = z.array(JournalEntry).safeParse(this.#options.journal?.get(JOURNAL_KEY) ?? []);
        return parsed.success ? parsed.data : [];
    }

    #record(active: Active): void {
        const journal = this.#options.journal;
        if (journal == null || this.#closed) return;
        const { state, request } = active;
        const entry: JournalEntry = {
            id: state.id, source: state.source, fileName: state.fileName, path: state.path, startedAt: state.startedAt,
            // Closing with the app is an interruption, to be offered again.
            status: active.stopped === 'closing' ? 'interrupted' : state.status,
            ...(request.sha256 != null ? { sha256: request.sha256 } : {}),
        };
        // One entry per source, the newest; cancelled ones are forgotten, the last 50 finished kept.
        const others = this.#journal().filter((e) => e.source !== state.source);
        journal.set(JOURNAL_KEY, [...others, ...(state.status === 'cancelled' ? [] : [entry])].slice(-50));
    }

    #emit(active: Active, patch: Partial<DownloadState>): void {
        Object.assign(active.state, patch);
        this.#options.onChange({ ...active.state });
    }

    async #run(active: Active): Promise<DownloadState> {
        const { request, state } = active;
        const folder = this.#options.folder();
        const rate = new TransferRate();
        let lastEmit = 0;
        let highest = 0;
        let lastNewBytesAt = performance.now();
        const stallMs = this.#options.stallMs ?? 60_000;
        const watchdog = setInterval(() => {
            if (performance.now() - lastNewBytesAt >= stallMs) this.#stop(active, 'stalled');
        }, Math.min(1000, stallMs / 4));
        const onProgress = ({ totalSize, downloadedSize }: { totalSize: number; downloadedSize: number }) => {
            const now = performance.now();
            if (downloadedSize > highest) {
                highest = downloadedSize;
                lastNewBytesAt = now;
            }
            rate.add(downloadedSize, now);
            if (now - lastEmit < (this.#options.progressIntervalMs ?? 250) || active.stopped != null) return;
            lastEmit = now;
            this.#emit(active, {
                receivedBytes: downloadedSize, totalBytes: totalSize,
                bytesPerSecond: Math.round(rate.bytesPerSecond), etaSeconds: rate.secondsFor(totalSize - downloadedSize),
            });
        };
        const fail = (message: string) => this.#emit(active, { status: 'failed', error: message, bytesPerSecond: 0, etaSeconds: null });
        this.#record(active);
        try {
            await mkdir(folder, { recursive: true }).catch((error: unknown) => {
                throw new Error(`the models folder ${folder} cannot be created (${errorMessage(error)})`);
            });
            const isHuggingFace = /^hf:/i.test(request.source);
            if (!isHuggingFace) await checkUrl(request.source, active.abort.signal);
            const { createModelDownloader } = await import('node-llama-cpp');
            const stopped = new Promise<never>((_, reject) => active.abort.signal.addEventListener('abort', () => reject(new Error('stopped')), { once: true }));
            stopped.catch(() => {});
            // Resolving an hf: URI and asking for the file's size has no signal of its own: a
            // stop meanwhile wins the race, and the downloader is closed when it arrives.
            const create = async (fileName?: string) => {
                const creating = createModelDownloader({
                    modelUri: request.source, dirPath: folder, onProgress, showCliProgress: false,
                    ...(fileName != null ? { fileName } : {}),
                    ...(isHuggingFace && this.#options.huggingFaceEndpoint != null ? { endpoints: { huggingFace: this.#options.huggingFaceEndpoint } } : {}),
                    // A stop keeps the partial file, so the next attempt resumes; cancel deletes it explicitly.
                    deleteTempFileOnCancel: false,
                });
                return Promise.race([creating, stopped]).catch((error: unknown) => {
                    if (active.stopped != null) void creating.then((late) => late.cancel({ deleteTempFile: active.stopped === 'cancelled' }), () => {});
                    throw error;
                });
            };
            // First the names and sizes the model has (nothing is written yet), then the download
            // itself under the hidden name of its own.
            const probe = await create();
            const names = probe.filesInfo.map((file) => file.fileName);
            const sizes = probe.filesInfo.map((file) => file.totalSize);
            const entrypoint = probe.entrypointFilename;
            await probe.cancel({ deleteTempFile: false });
            if (request.sha256 != null && names.length > 1) throw new Error('a sha256 can only be checked for a model in one file, and this one is split');
            state.fileName = entrypoint; // said with the next change of state
            const already = await this.#alreadyHere(folder, names, sizes, request);
            if (already != null) {
                this.#emit(active, { status: 'done', path: already, totalBytes: sizes.reduce((a, b) => a + b, 0), receivedBytes: sizes.reduce((a, b) => a + b, 0), bytesPerSecond: 0, etaSeconds: null });
                return { ...state };
            }
            const downloader = await create(stagingName(request.source, entrypoint));
            active.downloader = downloader;
            if (active.stopped == null) {
                const resumed = downloader.downloadedSize;
                highest = resumed;
                this.#emit(active, { status: 'downloading', fileName: entrypoint, totalBytes: downloader.totalSize, receivedBytes: resumed, resumedFromBytes: resumed });
                this.#record(active);
                const needed = downloader.totalSize - resumed;
                const free = await (this.#options.freeBytes ?? diskFreeBytes)(folder);
                if (needed + SPARE_DISK_BYTES > free) {
                    await downloader.cancel({ deleteTempFile: false });
                    throw new Error(`not enough disk space: ${entrypoint} needs ${formatSize(needed)} more, and ${folder} has ${formatSize(free)} free (Headroom keeps ${formatSize(SPARE_DISK_BYTES)} spare). Free some space or choose another models folder in the settings`);
                }
                lastNewBytesAt = performance.now();
                await downloader.download();
            }
            const staged = downloader.filesInfo;
            // The downloader returns normally when it was stopped: only our own flags say so.
            if (active.stopped === 'cancelled') {
                await downloader.cancel({ deleteTempFile: true });
                await discardStaged(staged);
                this.#emit(active, { status: 'cancelled', bytesPerSecond: 0, etaSeconds: null });
            } else if (active.stopped != null) {
                throw new Error('stopped');
            } else {
                this.#emit(active, { status: 'verifying', receivedBytes: downloader.totalSize, bytesPerSecond: 0, etaSeconds: 0 });
                // Checked under the hidden names, said under the model's.
                const problem = await verifyFiles(staged.map((file, index) => ({ ...file, fileName: names[index] ?? file.fileName })), request.sha256);
                if (problem != null) {
                    await discardStaged(staged);
                    const taken = (await Promise.all(names.map((name) => exists(path.join(folder, name))))).some(Boolean);
                    throw new Error(`${problem}; the downloaded file was deleted${taken ? ` (the ${entrypoint} already in the models folder was left as it was)` : ''}`);
                }
                const placed = await placeDownload(folder, staged.map((file) => file.filePath), names);
                this.#emit(active, { status: 'done', fileName: path.basename(placed[0] ?? entrypoint), path: placed[0] ?? null });
            }
        } catch (error) {
            if (active.stopped === 'cancelled') this.#emit(active, { status: 'cancelled', bytesPerSecond: 0, etaSeconds: null });
            else if (active.stopped === 'closing') fail('Interrupted when Headroom closed. Try again to resume it.');
            else if (active.stopped === 'stalled') {
                const kept = highest > 0 ? ` ${formatSize(highest)} of ${formatSize(state.totalBytes)} are kept: try again to resume.` : ' Try again later.';
                fail(`The download of ${state.fileName ?? request.source} stopped: no new data arrived for ${Math.round(stallMs / 1000)} s (the connection kept dropping, or the server went away).${kept}`);
            } else fail(`Could not download ${state.fileName ?? request.source}: ${describeFailure(error, request.source)}.`);
        } finally {
            clearInterval(watchdog);
            this.#record(active);
            this.#downloads.delete(state.id);
            if (isFinished(state.status)) this.#ended.push({ ...state });
        }
        return { ...state };
    }

    /**
     * The model already in the folder under the download's names (or `name (2)`… from an earlier
     * download whose name was taken), when every part is there at the size the server has and
     * passes the check a download gets, so a second `--model <URL>` does not fetch it again; null
     * otherwise. What is there is only read, never changed or deleted.
     */
    async #alreadyHere(folder: string, names: readonly string[], sizes: readonly number[], request: DownloadRequest): Promise<string | null> {
        if (sizes.some((size) => size <= 0)) return null;
        for (let n = 1; n <= 20; n++) {
            const files: FileInfo[] = names.map((name, index) => ({ fileName: numberedName(name, n), filePath: path.join(folder, numberedName(name, n)), totalSize: sizes[index] ?? 0 }));
            const infos = await Promise.all(files.map((file) => stat(file.filePath).catch(() => null)));
            if (!infos.every((info, index) => info?.isFile() === true && info.size === files[index]?.totalSize)) continue;
            if ((await verifyFiles(files, request.sha256)) == null) return files[0]?.filePath ?? null;
        }
        return null;
    }
}

/** What is wrong with a model's files (every part whole, the sha256 when one was given, a GGUF header), or null. */
async function verifyFiles(files: readonly FileInfo[], sha256: string | undefined): Promise<string | null> {
    for (const file of files) {
        const size = (await stat(file.filePath).catch(() => null))?.size ?? -1;
        if (file.totalSize > 0 && size !== file.totalSize) return `${file.fileName} is ${formatSize(Math.max(0, size))} instead of ${formatSize(file.totalSize)}`;
    }
    const first = files[0];
    if (first == null) return 'the server named no file';
    if (sha256 != null) {
        const actual = await sha256Of(first.filePath);
        if (actual !== sha256) return `its sha256 is ${actual}, not the expected ${sha256}`;
    }
    try {
        await readModelHeader(first.filePath);
    } catch (error) {
        return `${first.fileName} is not a GGUF model (${errorMessage(error)})`;
    }
    return null;
}

/** Deletes a download's own files: its hidden names and their partial files, nothing else. */
async function discardStaged(files: readonly FileInfo[]): Promise<void> {
    await Promise.all(files.flatMap((file) => [rm(file.filePath, { force: true }), rm(`${file.filePath}.ipull`, { force: true })]));
}
