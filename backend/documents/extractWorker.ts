// The worker thread behind extractDocumentOffThread: one document in, text or a refusal out.
import { parentPort, workerData } from 'node:worker_threads';
import { toRpcError } from '../../common/errors.ts';
import { extractDocument } from './extract.ts';
import type { WorkerMessage } from './extractOffThread.ts';

const { name, bytes } = workerData as { name: string; bytes: Uint8Array };
const port = parentPort;
if (port == null) throw new Error('extractWorker.ts runs as a worker thread.');
const post = (message: WorkerMessage) => port.postMessage(message);

try {
    const document = await extractDocument(name, bytes, (done, total) => post({ type: 'progress', done, total }));
    post({ type: 'done', document });
} catch (error) {
    const { code, message } = toRpcError(error);
    post({ type: 'error', code: code === 'INTERNAL' ? 'DOCUMENT_UNREADABLE' : code, message: code === 'INTERNAL' ? `${name} could not be read: ${message}` : message });
}
