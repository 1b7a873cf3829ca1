// The worker behind extractInWorker: one document in, text or a refusal out. The same entry
// runs as a Node worker thread and as an Electron utilityProcess (built as extractWorker.js).
import { parentPort as threadPort } from 'node:worker_threads';
import { toRpcError } from '../../common/errors.ts';
import { extractDocument } from './extract.ts';
import { ExtractionJob, type WorkerMessage } from './extractInWorker.ts';

interface Parent {
    post: (message: WorkerMessage) => void;
    onJob: (listener: (raw: unknown) => void) => void;
}

function connectToParent(): Parent {
    const utilityPort = (process as { parentPort?: Electron.ParentPort }).parentPort;
    if (utilityPort != null) {
        return { post: (message) => utilityPort.postMessage(message), onJob: (listener) => utilityPort.once('message', (event) => listener(event.data)) };
    }
    const port = threadPort;
    if (port == null) throw new Error('extractWorker.ts runs as a worker thread or a utilityProcess.');
    return { post: (message) => port.postMessage(message), onJob: (listener) => port.once('message', listener) };
}

const parent = connectToParent();
parent.onJob((raw) => void (async () => {
    const job = ExtractionJob.safeParse(raw);
    if (!job.success) {
        parent.post({ type: 'error', code: 'BAD_REQUEST', message: 'The document reader was sent something other than a document.' });
        return;
    }
    const { name, bytes } = job.data;
    try {
        const document = await extractDocument(name, bytes, (done, total) => parent.post({ type: 'progress', done, total }));
        parent.post({ type: 'done', document });
    } catch (error) {
        const { code, message } = toRpcError(error);
        if (code === 'INTERNAL') console.warn(`[documents] ${name}:`, error);
        parent.post({ type: 'error', code: code === 'INTERNAL' ? 'DOCUMENT_UNREADABLE' : code, message: code === 'INTERNAL' ? `${name} could not be read: it is damaged or not what its name says.` : message });
    }
})());
