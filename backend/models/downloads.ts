// Downloads models into Headroom's models folder with node-llama-cpp's downloader (hf: URIs,
// URLs, split GGUF files, resumable: ipull keeps a partial file as <name>.ipull until the
// last byte is in). Around it: a quick look at the URL before anything is written, a free
// disk check, progress with speed and time left, cancel, a watchdog for downloads that stop
// moving, and a check of the finished file (size, sha256 when known, a GGUF header), so a
// half or wrong file never sits in the folder under a model's name.
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm, stat, statfs } from 'node:fs/promises';
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
    const cause = (error as { cause?: { code?: string } } | null)?.cause;
    const code = cause?.code ?? (error as { code?: string } | null)?.code;
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
            // Resolving an hf: URI and asking for the file's size has no signal of its own: a
            // stop meanwhile wins the race, and the downloader is closed when it arrives.
            const creating = createModelDownloader({
                modelUri: request.source, dirPath: folder, onProgress, showCliProgress: false,
                ...(isHuggingFace && this.#options.huggingFaceEndpoint != null ? { endpoints: { huggingFace: this.#options.huggingFaceEndpoint } } : {}),
                // A stop keeps the partial file, so the next attempt resumes; cancel deletes it explicitly.
                deleteTempFileOnCancel: false,
            });
            const stopped = new Promise<never>((_, reject) => active.abort.signal.addEventListener('abort', () => reject(new Error('stopped')), { once: true }));
            const downloader = await Promise.race([creating, stopped]).catch((error: unknown) => {
                if (active.stopped != null) void creating.then((late) => late.cancel({ deleteTempFile: active.stopped === 'cancelled' }), () => {});
                throw error;
            });
            active.downloader = downloader;
            if (active.stopped == null) {
                const files = downloader.filesInfo;
                if (request.sha256 != null && files.length > 1) throw new Error('a sha256 can only be checked for a model in one file, and this one is split');
                const resumed = downloader.downloadedSize;
                highest = resumed;
                this.#emit(active, { status: 'downloading', fileName: downloader.entrypointFilename, totalBytes: downloader.totalSize, receivedBytes: resumed, resumedFromBytes: resumed });
                this.#record(active);
                const needed = downloader.totalSize - resumed;
                const free = await (this.#options.freeBytes ?? diskFreeBytes)(folder);
                if (needed + SPARE_DISK_BYTES > free) {
                    await downloader.cancel({ deleteTempFile: false });
                    throw new Error(`not enough disk space: ${downloader.entrypointFilename} needs ${formatSize(needed)} more, and ${folder} has ${formatSize(free)} free (Headroom keeps ${formatSize(SPARE_DISK_BYTES)} spare). Free some space or choose another models folder in the settings`);
                }
                lastNewBytesAt = performance.now();
                await downloader.download();
            }
            // The downloader returns normally when it was stopped: only our own flags say so.
            if (active.stopped === 'cancelled') {
                await downloader.cancel({ deleteTempFile: true });
                this.#emit(active, { status: 'cancelled', bytesPerSecond: 0, etaSeconds: null });
            } else if (active.stopped != null) {
                throw new Error('stopped');
            } else {
                this.#emit(active, { status: 'verifying', receivedBytes: downloader.totalSize, bytesPerSecond: 0, etaSeconds: 0 });
                await this.#verify(downloader, request);
                this.#emit(active, { status: 'done', path: downloader.entrypointFilePath });
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

    /** Every part whole, the sha256 when one was given, and a GGUF header; a bad file is deleted. */
    async #verify(downloader: ModelDownloader, request: DownloadRequest): Promise<void> {
        const files = downloader.filesInfo;
        const discard = async (why: string): Promise<never> => {
            await Promise.all(files.map((file) => rm(file.filePath, { force: true })));
            throw new Error(`${why}; the file was deleted`);
        };
        for (const file of files) {
            const size = (await stat(file.filePath).catch(() => null))?.size ?? -1;
            if (file.totalSize > 0 && size !== file.totalSize) await discard(`${file.fileName} is ${formatSize(Math.max(0, size))} instead of ${formatSize(file.totalSize)}`);
        }
        const first = downloader.entrypointFilePath;
        if (request.sha256 != null) {
            const actual = await sha256Of(first);
            if (actual !== request.sha256) await discard(`its sha256 is ${actual}, not the expected ${request.sha256}`);
        }
        try {
            await readModelHeader(first);
        } catch (error) {
            await discard(`${path.basename(first)} is not a GGUF model (${errorMessage(error)})`);
        }
    }
}
