// Documents are read in a utilityProcess in the app: a separate OS process with its own memory
// limit, so a crafted file never takes the window down. It runs the same worker entry as web
// mode's worker thread (backend/documents/extractWorker.ts, built as extractWorker.js).
import path from 'node:path';
import { utilityProcess } from 'electron';
import { EXTRACTION_MEMORY_MB, type ExtractorProcess } from '../backend/documents/extractInWorker.ts';

const OUT_OF_MEMORY = /heap out of memory|Reached heap limit/i;

export function spawnElectronExtractor(): ExtractorProcess {
    const child = utilityProcess.fork(path.join(__dirname, 'extractWorker.js'), [], {
        stdio: 'pipe',
        serviceName: 'Headroom Document Reader',
        execArgv: [`--max-old-space-size=${EXTRACTION_MEMORY_MB}`],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString('utf8')).slice(-4096);
        process.stderr.write(chunk);
    });
    return {
        post: (job) => child.postMessage(job),
        onMessage: (listener) => child.on('message', listener),
        onExit: (listener) => child.on('exit', () => listener({ outOfMemory: OUT_OF_MEMORY.test(stderr) })),
        kill: () => {
            child.kill();
        },
    };
}
