// Runs document extraction on a worker thread, so parsing a 500-page PDF never stalls the
// backend that serves the window. The worker's messages are checked like any other IPC.
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import { DocumentKind } from '../../common/contract.ts';
import { ErrorCode, HeadroomError } from '../../common/errors.ts';
import { extractDocument, type ExtractedDocument, type ExtractProgress } from './extract.ts';

const WorkerMessage = z.discriminatedUnion('type', [
    z.object({ type: z.literal('progress'), done: z.number(), total: z.number() }),
    z.object({ type: z.literal('done'), document: z.object({ kind: DocumentKind, text: z.string(), pages: z.number().int().nullable(), warnings: z.array(z.string()) }) }),
    z.object({ type: z.literal('error'), code: ErrorCode, message: z.string() }),
]);
export type WorkerMessage = z.infer<typeof WorkerMessage>;

const WORKER = new URL('./extractWorker.ts', import.meta.url);

export function extractDocumentOffThread(name: string, bytes: Uint8Array, onProgress?: ExtractProgress): Promise<ExtractedDocument> {
    // Electron's main process is one bundle with no worker entry: extract in place there.
    if (process.versions.electron != null || WORKER.protocol !== 'file:' || !import.meta.url.endsWith('.ts')) {
        return extractDocument(name, bytes, onProgress);
    }
    return new Promise((resolve, reject) => {
        const worker = new Worker(WORKER, { workerData: { name, bytes } });
        let settled = false;
        const settle = (action: () => void) => {
            if (settled) return;
            settled = true;
            action();
            void worker.terminate();
        };
        worker.on('message', (raw: unknown) => {
            const message = WorkerMessage.safeParse(raw);
            if (!message.success) return settle(() => reject(new HeadroomError('INTERNAL', 'The document reader sent a malformed message.')));
            const data = message.data;
            if (data.type === 'progress') onProgress?.(data.done, data.total);
            else if (data.type === 'done') settle(() => resolve(data.document));
            else settle(() => reject(new HeadroomError(data.code, data.message)));
        });
        worker.on('error', (error: Error) => settle(() => reject(new HeadroomError('DOCUMENT_UNREADABLE', `${name} could not be read: ${error.message}`))));
        worker.on('exit', (code) => settle(() => reject(new HeadroomError('DOCUMENT_UNREADABLE', `${name} could not be read (the reader stopped with code ${code}).`))));
    });
}
