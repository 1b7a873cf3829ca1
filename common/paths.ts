// Where Headroom keeps each kind of user data, per platform: the one place that decides it. The
// desktop app, `npm run serve`, the CLIs and the engine host all ask here, so by default they
// share one chat database, one set of head profiles and one models folder.
//   Linux (XDG): data in $XDG_DATA_HOME/headroom, caches in $XDG_CACHE_HOME/headroom, logs in
//     $XDG_STATE_HOME/headroom/logs (each variable only when it is an absolute path, as the spec says).
//   macOS: ~/Library/Application Support/Headroom, ~/Library/Caches/Headroom, ~/Library/Logs/Headroom.
//   Windows: %APPDATA%\Headroom (roaming: chats, head profiles), %LOCALAPPDATA%\Headroom (this
//     machine's: models, caches, logs).
// Pure: the machine (home, environment, platform) is passed in; Node callers give their own.
import { z } from 'zod';

/** The machine a path is decided for: tests pass a made-up one. */
export interface MachinePlaces {
    home: string;
    env: Readonly<Record<string, string | undefined>>;
    platform: string;
}

/** Each kind of data Headroom keeps, as the settings name them. */
export const DATA_KINDS = ['chats', 'profiles', 'models', 'snapshots', 'modelHashes', 'logs'] as const;
export type DataKind = (typeof DATA_KINDS)[number];

export interface DataPaths {
    /** The chats database (chats, messages, documents, settings): a file. */
    chats: string;
    /** Head profiles measured on this machine, one JSON per model file. */
    profiles: string;
    /** Where downloaded models go (the settings' Models folder moves it). */
    models: string;
    /** KV snapshots of chats' documents: a cache, rebuilt by reading the documents again. */
    snapshots: string;
    /** Model files' sha256, kept by path, size and mtime: a cache, a file. */
    modelHashes: string;
    /** Log files. */
    logs: string;
}

/** What each kind is called in the settings. */
export const DATA_KIND_LABELS: Record<DataKind, string> = {
    chats: 'Chats', profiles: 'Head profiles', models: 'Models', snapshots: 'KV snapshots', modelHashes: 'Model hashes', logs: 'Logs',
};

/** The kinds that are files, not folders (their folder is what a button opens). */
export const FILE_KINDS: ReadonlySet<DataKind> = new Set(['chats', 'modelHashes']);

export const DATABASE_FILE = 'headroom.sqlite';
export const MODEL_HASHES_FILE = 'model-hashes.json';
/** Environment variables that move one kind (tests, and the backend telling its engine hosts). */
export const PROFILE_DIR_ENV = 'HEADROOM_PROFILE_DIR';
export const MODEL_HASHES_ENV = 'HEADROOM_MODEL_HASHES';

/** Windows: a drive's path, a share's, or one rooted on the current drive; elsewhere, from the root. */
const isAbsolute = (platform: string, value: string) => (platform === 'win32' ? /^([A-Za-z]:[\\/]|[\\/])/.test(value) : value.startsWith('/'));

/** Joins path parts with the platform's separator (no Node here: common/ runs in the window too). */
export function joinPath(platform: string, ...parts: string[]): string {
    const separator = platform === 'win32' ? '\\' : '/';
    const joined = parts.filter((part) => part !== '').join(separator);
    const unc = platform === 'win32' && /^[\\/]{2}/.test(joined);
    const collapsed = joined.replace(platform === 'win32' ? /[\\/]+/g : /\/+/g, separator);
    const trimmed = collapsed.length > 1 && collapsed.endsWith(separator) ? collapsed.slice(0, -1) : collapsed;
    return unc ? separator + trimmed : trimmed;
}

/** The platform's base folders for Headroom: roaming data, this machine's data, caches and logs. */
export function baseFolders({ home, env, platform }: MachinePlaces): { data: string; local: string; cache: string; logs: string } {
    const join = (...parts: string[]) => joinPath(platform, ...parts);
    const variable = (name: string) => {
        const value = env[name];
        return value != null && value !== '' && isAbsolute(platform, value) ? value : null;
    };
    if (platform === 'darwin') {
        const data = join(home, 'Library', 'Application Support', 'Headroom');
        return { data, local: data, cache: join(home, 'Library', 'Caches', 'Headroom'), logs: join(home, 'Library', 'Logs', 'Headroom') };
    }
    if (platform === 'win32') {
        const local = join(variable('LOCALAPPDATA') ?? join(home, 'AppData', 'Local'), 'Headroom');
        return { data: join(variable('APPDATA') ?? join(home, 'AppData', 'Roaming'), 'Headroom'), local, cache: join(local, 'Cache'), logs: join(local, 'Logs') };
    }
    const data = join(variable('XDG_DATA_HOME') ?? join(home, '.local', 'share'), 'headroom');
    return {
        data, local: data,
        cache: join(variable('XDG_CACHE_HOME') ?? join(home, '.cache'), 'headroom'),
        logs: join(variable('XDG_STATE_HOME') ?? join(home, '.local', 'state'), 'headroom', 'logs'),
    };
}

/**
 * Where each kind of data lives on this machine. `dataDir` (serve's --data-dir, tests) puts the
 * chats database and what belongs to it (KV snapshots, model hashes) in one folder of its own;
 * HEADROOM_PROFILE_DIR and HEADROOM_MODEL_HASHES move those kinds.
 */
export function dataPaths(places: MachinePlaces, dataDir?: string): DataPaths {
    const join = (...parts: string[]) => joinPath(places.platform, ...parts);
    const base = baseFolders(places);
    const chatsFolder = dataDir ?? base.data;
    const cacheFolder = dataDir ?? base.cache;
    return {
        chats: join(chatsFolder, DATABASE_FILE),
        profiles: places.env[PROFILE_DIR_ENV] || join(base.data, 'head-profiles'),
        models: join(base.local, 'models'),
        snapshots: join(cacheFolder, 'snapshots'),
        modelHashes: places.env[MODEL_HASHES_ENV] || join(cacheFolder, MODEL_HASHES_FILE),
        logs: base.logs,
    };
}

/**
 * Where earlier versions kept chats, by default: Electron's userData (~/.config/Headroom on Linux;
 * on macOS and Windows the data folder itself) and `npm run serve`'s ~/.local/share/headroom (on
 * every platform). Those that are not today's data folder are moved into it once.
 */
export function legacyDataFolders(places: MachinePlaces): string[] {
    const { home, env, platform } = places;
    const join = (...parts: string[]) => joinPath(platform, ...parts);
    const variable = (name: string) => {
        const value = env[name];
        return value != null && value !== '' && isAbsolute(platform, value) ? value : null;
    };
    const electron = platform === 'darwin'
        ? join(home, 'Library', 'Application Support', 'Headroom')
        : platform === 'win32'
            ? join(variable('APPDATA') ?? join(home, 'AppData', 'Roaming'), 'Headroom')
            : join(variable('XDG_CONFIG_HOME') ?? join(home, '.config'), 'Headroom');
    const serve = join(variable('XDG_DATA_HOME') ?? join(home, '.local', 'share'), 'headroom');
    const data = baseFolders(places).data;
    return [...new Set([electron, serve])].filter((folder) => folder !== data);
}

/** Where each kind lives, as the settings show it: a button opens the folder where the window can (the desktop app). */
export const DataLocations = z.object({
    kinds: z.array(z.object({ kind: z.enum(DATA_KINDS), label: z.string(), path: z.string(), folder: z.string() })),
    /** Whether the backend can open a folder in the system's file manager (the desktop app; not a browser tab). */
    canOpen: z.boolean(),
    /** What was moved in from earlier versions' folders as this Headroom started. */
    moved: z.array(z.string()),
});
export type DataLocations = z.infer<typeof DataLocations>;
