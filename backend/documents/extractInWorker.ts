// Document extraction never runs in the app's own process: a crafted file must not be able to
// take the window (Electron) or every tab (web mode) down with it. Each document is read in a
// worker of its own (a worker thread under Node, a utilityProcess in Electron: both run
// extractWorker.ts) with a memory limit and a time limit, and the worker is ended as soon as
// the window that sent the file goes away. Its messages are checked like any other IPC.
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import { DocumentKind } from '../../common/contract.ts';
import { ErrorCode, HeadroomError } from '../../common/errors.ts';
import type { CancelSignal } from '../../common/rpc.ts';
import type { ExtractedDocument, ExtractProgress } from './extract.ts';

export const WorkerMessage = z.discriminatedUnion('type', [
    z.object({ type: z.literal('progress'), done: z.number(), total: z.number() }),
    z.object({ type: z.literal('done'), document: z.object({ kind: DocumentKind, text: z.string(), pages: z.number().int().nullable(), warnings: z.array(z.string()) }) }),
    z.object({ type: z.literal('error'), code: ErrorCode, message: z.string() }),
]);
export type WorkerMessage = z.infer<typeof WorkerMessage>;

/** The one message a worker gets: the document to read. */
export const ExtractionJob = z.object({ name: z.string().min(1).max(1024), bytes: z.custom<Uint8Array>((value) => value instanceof Uint8Array) });
export type ExtractionJob = z.infer<typeof ExtractionJob>;

/** A worker as the backend sees it, whatever runs it. `outOfMemory` when it hit its memory limit. */
export interface ExtractorProcess {
    post: (job: ExtractionJob) => void;
    onMessage: (listener: (message: unknown) => void) => void;
    onExit: (listener: (exit: { outOfMemory: boolean }) => void) => void;
    kill: () => void;
}

export type SpawnExtractor = () => ExtractorProcess;

/** JavaScript heap a worker may use: a 64 MB PDF needs well under a gigabyte. */
export const EXTRACTION_MEMORY_MB = 1536;
export const EXTRACTION_TIME_LIMIT_MS = 180_000;

const WORKER = new URL('./extractWorker.ts', import.meta.url);

/** A worker thread with resource limits: web mode, the CLIs and the tests. */
export function spawnWorkerThreadExtractor(memoryMb = EXTRACTION_MEMORY_MB): ExtractorProcess {
    const worker = new Worker(WORKER, { resourceLimits: { maxOldGenerationSizeMb: memoryMb, maxYoungGenerationSizeMb: 64, stackSizeMb: 8 } });
    let outOfMemory = false;
    worker.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ERR_WORKER_OUT_OF_MEMORY') outOfMemory = true;
        else console.warn('[documents] the reader failed:', error);
    });
    return {
        post: (job) => worker.postMessage(job),
        onMessage: (listener) => worker.on('message', listener),
        onExit: (listener) => worker.on('exit', () => listener({ outOfMemory })),
        kill: () => void worker.terminate(),
    };
}

export interface ExtractOptions {
    onProgress?: ExtractProgress;
    /** Fires when the client that sent the document went away: the worker is ended. */
    signal?: CancelSignal;
    timeLimitMs?: number;
}

export function extractInWorker(spawn: SpawnExtractor, name: string, bytes: Uint8Array, { onProgress, signal, timeLimitMs = EXTRACTION_TIME_LIMIT_MS }: ExtractOptions = {}): Promise<ExtractedDocument> {
    if (signal?.aborted === true) return Promise.reject(cancelled(name));
    return new Promise((resolve, reject) => {
        const worker = spawn();
        let settled = false;
        const settle = (action: () => void) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            signal?.removeEventListener('abort', abort);
            worker.kill();
            action();
        };
        const abort = () => settle(() => reject(cancelled(name)));
        const timer = setTimeout(() => settle(() => reject(new HeadroomError('DOCUMENT_TOO_LARGE',
            `Reading ${name} took longer than ${Math.round(timeLimitMs / 1000)} s, so Headroom stopped. It may be damaged, or far larger inside than it looks.`))), timeLimitMs);
        signal?.addEventListener('abort', abort, { once: true });
        worker.onMessage((raw) => {
            const message = WorkerMessage.safeParse(raw);
            if (!message.success) return settle(() => reject(new HeadroomError('DOCUMENT_UNREADABLE', `${name} could not be read: the reader sent something Headroom did not expect.`)));
            const data = message.data;
            if (data.type === 'progress') onProgress?.(data.done, data.total);
            else if (data.type === 'done') settle(() => resolve(data.document));
            else settle(() => reject(new HeadroomError(data.code, data.message)));
        });
        worker.onExit(({ outOfMemory }) => settle(() => reject(outOfMemory
            ? new HeadroomError('DOCUMENT_TOO_LARGE', `${name} needs more memory to read than Headroom allows a document (${(EXTRACTION_MEMORY_MB / 1024).toFixed(1)} GB). It may be damaged, or built to exhaust memory.`)
            : new HeadroomError('DOCUMENT_UNREADABLE', `${name} could not be read: the reader stopped unexpectedly.`))));
        worker.post({ name, bytes });
    });
}

function cancelled(name: string): HeadroomError {
    return new HeadroomError('DOCUMENT_UNREADABLE', `Reading ${name} was cancelled: the window that sent it closed.`);
}
