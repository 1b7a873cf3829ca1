// The log: everything the backend's process writes to stderr (its own errors, the engine hosts'
// and llama.cpp's error lines) is also appended to headroom.log in the logs folder, so the desktop
// app, which has no terminal, keeps what went wrong. The file is kept under a few MB: past that
// it becomes headroom.log.1 when Headroom starts.
import { closeSync, mkdirSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';

export const LOG_FILE = 'headroom.log';
const KEEP_BYTES = 4 * 1024 * 1024;

/** Copies this process's stderr into `folder`/headroom.log from now on; returns the file and how to stop. */
export function logStderrTo(folder: string): { file: string; stop: () => void } {
    mkdirSync(folder, { recursive: true });
    const file = path.join(folder, LOG_FILE);
    try {
        if (statSync(file).size > KEEP_BYTES) renameSync(file, `${file}.1`);
    } catch {
        // no log yet
    }
    const fd = openSync(file, 'a');
    writeSync(fd, `--- Headroom started ${new Date().toISOString()} (process ${process.pid}) ---\n`);
    const stderr = process.stderr;
    const write = stderr.write.bind(stderr);
    stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
        try {
            if (typeof chunk === 'string') writeSync(fd, chunk);
            else writeSync(fd, chunk);
        } catch {
            // a full disk must not stop the app
        }
        return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
    });
    return {
        file,
        stop: () => {
            stderr.write = write;
            closeSync(fd);
        },
    };
}
