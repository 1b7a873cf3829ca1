// Headroom's user data on this machine: where each kind lives (common/paths.ts decides, from this
// process's home and environment), and the once-only move of what earlier versions kept elsewhere
// (the desktop app's Electron userData on Linux, `npm run serve`'s ~/.local/share/headroom on
// macOS and Windows) into that one home. A move never loses data: the chats are copied into the
// database in one transaction before the old database is removed, and files are renamed (or, across
// file systems, copied and then removed).
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errorMessage } from '../common/errors.ts';
import { dataPaths, DATABASE_FILE, legacyDataFolders, MODEL_HASHES_FILE, type DataPaths, type MachinePlaces } from '../common/paths.ts';
import { plural } from '../common/words.ts';
import { HeadroomDatabase } from './database.ts';
import { lockDataDir } from './instanceLock.ts';

export const machinePlaces = (): MachinePlaces => ({ home: os.homedir(), env: process.env, platform: process.platform });

/** Where each kind of data lives here; `dataDir` (serve's --data-dir, tests) holds the chats and what belongs to them. */
export function userDataPaths(dataDir?: string, places: MachinePlaces = machinePlaces()): DataPaths {
    return dataPaths(places, dataDir == null ? undefined : path.resolve(dataDir));
}

/** Renames a file, or copies it and then removes the original where a rename cannot cross file systems. */
function moveFile(from: string, to: string): void {
    mkdirSync(path.dirname(to), { recursive: true });
    try {
        renameSync(from, to);
    } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
        copyFileSync(from, to);
        rmSync(from);
    }
}

/** Moves the files of one folder into another, never over a file already there; how many moved. */
function moveFiles(from: string, to: string, keep: (name: string) => boolean = () => true): number {
    if (!existsSync(from)) return 0;
    let moved = 0;
    for (const entry of readdirSync(from, { withFileTypes: true })) {
        if (!entry.isFile() || !keep(entry.name) || existsSync(path.join(to, entry.name))) continue;
        moveFile(path.join(from, entry.name), path.join(to, entry.name));
        moved++;
    }
    try {
        rmdirSync(from); // only when empty
    } catch {
        // something stayed: left where it is
    }
    return moved;
}

/**
 * Moves one earlier data folder's chats, KV snapshots, head profiles and model hashes into
 * today's places. Returns the line that says what happened, or null when there was nothing there.
 */
function moveFolder(from: string, paths: DataPaths): string | null {
    const oldDatabase = path.join(from, DATABASE_FILE);
    const oldSnapshots = path.join(from, 'snapshots');
    const oldProfiles = path.join(from, 'head-profiles');
    const oldHashes = path.join(from, MODEL_HASHES_FILE);
    if (![oldDatabase, oldSnapshots, oldProfiles, oldHashes].some((item) => existsSync(item))) return null;
    const dataFolder = path.dirname(paths.chats);
    let lock;
    try {
        lock = lockDataDir(from);
    } catch (error) {
        return `Headroom's data in ${from} was not moved to ${dataFolder}: ${errorMessage(error)} It will be moved when that one has closed.`;
    }
    try {
        const said: string[] = [];
        if (existsSync(oldDatabase)) {
            // Brought up to this version's schema first, so both databases have the same tables.
            new HeadroomDatabase(oldDatabase).close();
            const db = new HeadroomDatabase(paths.chats);
            let chats: number;
            try {
                chats = db.absorb(oldDatabase, { from: oldSnapshots, to: paths.snapshots });
            } finally {
                db.close();
            }
            for (const suffix of ['', '-wal', '-shm']) rmSync(`${oldDatabase}${suffix}`, { force: true });
            said.push(plural('chat', chats));
        }
        const snapshots = moveFiles(oldSnapshots, paths.snapshots);
        const profiles = moveFiles(oldProfiles, paths.profiles, (name) => name.endsWith('.json'));
        if (profiles > 0) said.push(plural('head profile', profiles));
        if (existsSync(oldHashes) && !existsSync(paths.modelHashes)) moveFile(oldHashes, paths.modelHashes);
        const where = snapshots > 0 ? `; ${plural('KV snapshot', snapshots)} to ${paths.snapshots}` : '';
        return `Headroom moved its data from ${from} to ${dataFolder} (${said.length > 0 ? said.join(', ') : 'caches only'})${where}.`;
    } catch (error) {
        return `Headroom could not move its data from ${from} to ${dataFolder} (${errorMessage(error)}); what was not moved is still in ${from}, and the move is tried again next time.`;
    } finally {
        lock.release();
    }
}

/**
 * Moves what earlier versions kept in other folders into today's places, once (a moved folder
 * holds nothing to move the next time). One line for each folder something was moved from.
 */
export function moveLegacyData(paths: DataPaths, places: MachinePlaces = machinePlaces()): string[] {
    return legacyDataFolders(places).map((folder) => moveFolder(folder, paths)).filter((line): line is string => line != null);
}
