// One Headroom per data folder. Two processes on one database would each take the other's
// streaming reply for the leftover of a crash and mark it interrupted, and both write the same
// chats. The lock is a file in the data folder naming the process that holds it; a lock whose
// process is gone (a crash, kill -9) is taken over.
import { lstatSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HeadroomError } from '../common/errors.ts';

export const LOCK_FILE = 'headroom.lock';

interface LockOwner {
    pid: number;
    host: string;
    startedAt: number;
}

function readOwner(file: string): LockOwner | null {
    try {
        const owner = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockOwner>;
        return typeof owner.pid === 'number' && typeof owner.host === 'string' ? { pid: owner.pid, host: owner.host, startedAt: Number(owner.startedAt) } : null;
    } catch {
        return null; // unreadable: half written by a process that died, so nobody's
    }
}

function isRunning(pid: number): boolean {
    try {
        process.kill(pid, 0);
    } catch (error) {
        return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
    }
    // A killed process nobody has reaped yet (a zombie) still answers signal 0; Linux tells it apart.
    if (process.platform !== 'linux') return true;
    try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
    } catch {
        return false; // gone between the two looks
    }
}

export interface InstanceLock {
    readonly file: string;
    release: () => void;
}

/** Takes the data folder's lock, or refuses with who holds it. */
export function lockDataDir(dataDir: string): InstanceLock {
    const file = path.join(dataDir, LOCK_FILE);
    const me: LockOwner = { pid: process.pid, host: os.hostname(), startedAt: Date.now() };
    for (let attempt = 0; attempt < 3; attempt++) {
        // Something else under the lock's name (a folder, a link, a device) is not Headroom's to delete.
        const existing = (() => {
            try {
                return lstatSync(file);
            } catch {
                return null;
            }
        })();
        if (existing != null && !existing.isFile()) {
            const what = existing.isDirectory() ? 'a folder' : existing.isSymbolicLink() ? 'a link' : 'not a plain file';
            throw new HeadroomError('BUSY', `Headroom cannot take the lock of its data folder ${dataDir}: ${file} is ${what}, where Headroom keeps the file that says which Headroom uses the folder. ` +
                'Move it away (Headroom does not delete what it did not make), then start Headroom again.');
        }
        try {
            writeFileSync(file, JSON.stringify(me), { flag: 'wx' }); // exclusive: fails when the file exists
            let released = false;
            return {
                file,
                release: () => {
                    if (released) return;
                    released = true;
                    if (readOwner(file)?.pid === me.pid) rmSync(file, { force: true });
                },
            };
        } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
                throw new HeadroomError('INTERNAL', `Headroom cannot write to its data folder ${dataDir}: ${(error as Error).message}`);
            }
        }
        const owner = readOwner(file);
        // Another machine sharing the folder cannot be asked whether its process runs: it holds the lock.
        if (owner != null && owner.pid !== process.pid && (owner.host !== me.host || isRunning(owner.pid))) {
            throw new HeadroomError('BUSY', `Headroom is already running with the data folder ${dataDir} (process ${owner.pid}${owner.host !== me.host ? ` on ${owner.host}` : ''}). ` +
                `Use that one, or start this one with another data folder. If no Headroom is running, delete ${file}.`);
        }
        rmSync(file, { force: true }); // left by a process that is gone
    }
    throw new HeadroomError('BUSY', `Another Headroom keeps taking the data folder ${dataDir}; close it and try again.`);
}
