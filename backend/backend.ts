// What the UI talks to, whichever window it lives in: the Electron main process and the
// web-mode server both serve these handlers and fan these events out. It owns the chats
// (SQLite in the data folder) and drives the engine host through the supervisor.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { EventEnvelope } from '../common/contract.ts';
import { fromRpcError, HeadroomError, noModelLoaded, PACKAGED_ENV } from '../common/errors.ts';
import { DATA_KIND_LABELS, DATA_KINDS, DATABASE_FILE, FILE_KINDS, MODEL_HASHES_ENV, PROFILE_DIR_ENV, type DataKind, type DataPaths } from '../common/paths.ts';
import { dispatch, eventEnvelope, type Handlers } from '../common/rpc.ts';
import type { Settings } from '../common/settings.ts';
import { uiContract, type UiMethod, type UiParams, type uiRequests, type UiResult } from '../common/uiContract.ts';
import { ChatTools } from './chatTools.ts';
import { ChatService } from './chats.ts';
import { HeadroomDatabase } from './database.ts';
import { spawnWorkerThreadExtractor, type SpawnExtractor } from './documents/extractInWorker.ts';
import type { SpawnHost } from './host/hostProcess.ts';
import { HostJobs } from './host/jobs.ts';
import { EngineSupervisor, type EngineTimeouts } from './host/supervisor.ts';
import { lockDataDir } from './instanceLock.ts';
import { ModelLoader } from './modelLoader.ts';
import { ModelsService, type ModelsServiceOptions } from './models/service.ts';
import { moveLegacyData, userDataPaths } from './paths.ts';
import { SettingsService } from './settings.ts';

export interface BackendOptions {
    spawnHost: SpawnHost;
    /**
     * A folder of its own for the chats database and what belongs to it (KV snapshots, model
     * hashes): serve's --data-dir, tests. Without it, each kind lives where common/paths.ts says.
     */
    dataDir?: string;
    /** Where each kind of data lives, when not as dataDir or the platform says (tests). */
    paths?: DataPaths;
    /** Moves what earlier versions kept in other folders into these places first (the app and serve, in their default places). */
    moveLegacyData?: boolean;
    /** Opens a folder in the system's file manager; absent where there is none to open it in (web mode). */
    openFolder?: (folder: string) => Promise<void>;
    /** The platform's file picker; absent where there is none (web mode). */
    pickModelFile?: () => Promise<string | null>;
    /** Where documents are read: a worker thread by default, a utilityProcess in Electron. */
    spawnExtractor?: SpawnExtractor;
    /** When a stuck engine host is killed and started again; the defaults suit real models. */
    engineTimeouts?: Partial<EngineTimeouts>;
    /** When a profile or recall test that reports no progress is stopped (tests: short). */
    jobIdleMs?: number;
    /** Where other apps' models are looked for, and download settings (tests: a temporary home). */
    models?: Pick<ModelsServiceOptions, 'places' | 'downloads'>;
    /** An installed app (Electron's app.isPackaged): its engine hosts say what applies there, never `npm run build:native`. */
    packaged?: boolean;
}

export interface Backend {
    /** Every request of the window's contract (common/uiContract.ts), and no other. */
    readonly handlers: Handlers<typeof uiRequests>;
    /** A request as a window sends it: validated against the contract, then handled. */
    request: <M extends UiMethod>(method: M, params: UiParams<M>) => Promise<UiResult<M>>;
    readonly supervisor: EngineSupervisor;
    /** Builds every load from the saved settings and sends it (model.load, memory.plan, memory.fit). */
    readonly loader: ModelLoader;
    readonly settings: SettingsService;
    readonly chats: ChatService;
    readonly models: ModelsService;
    readonly db: HeadroomDatabase;
    /** Where each kind of data lives. */
    readonly paths: DataPaths;
    /** One line for each earlier data folder whose contents were moved in as it started. */
    readonly moved: readonly string[];
    subscribe: (listener: (event: EventEnvelope) => void) => () => void;
    /** Stops the engine host and any download (a download resumes next time). */
    dispose: () => void;
}

export { DATABASE_FILE };

/** Throws (with a sentence) when another Headroom holds the data folder or the database cannot be opened. */
export function createBackend(options: BackendOptions): Backend {
    const { spawnHost: spawnAnyHost, pickModelFile, spawnExtractor = () => spawnWorkerThreadExtractor(), engineTimeouts, jobIdleMs, models: modelOptions, packaged = false } = options;
    const paths = options.paths ?? userDataPaths(options.dataDir);
    const dataDir = path.dirname(paths.chats);
    // Every engine host keeps model files' sha256 in one file (read once per file version, not per
    // host) and finds head profiles in one folder: the backend's.
    const spawnHost: SpawnHost = (env) => spawnAnyHost({
        [MODEL_HASHES_ENV]: paths.modelHashes, [PROFILE_DIR_ENV]: paths.profiles, ...(packaged ? { [PACKAGED_ENV]: '1' } : {}), ...env,
    });
    const listeners = new Set<(event: EventEnvelope) => void>();
    const emit = (event: EventEnvelope) => {
        for (const listener of listeners) listener(event);
    };
    mkdirSync(dataDir, { recursive: true });
    // Before the database: opening it marks the replies that were streaming as interrupted.
    const lock = lockDataDir(dataDir);
    let db: HeadroomDatabase;
    let moved: string[] = [];
    try {
        if (options.moveLegacyData === true) moved = moveLegacyData(paths);
        db = new HeadroomDatabase(paths.chats);
    } catch (error) {
        lock.release();
        throw error;
    }
    const settings = new SettingsService(db.settings);
    let chats: ChatService | null = null;
    let loadedSettings: Settings | null = null;
    const supervisor = new EngineSupervisor(spawnHost, (event) => {
        if (event.name !== 'engine.state') {
            chats?.onEngineEvent(event);
            emit(event);
            return;
        }
        emit(event);
        // What awaits a reload is measured against the settings the loaded model's parameters were
        // built from when the load was sent, not the settings when it finished: a change made
        // during a load is still pending.
        const built = event.payload.model == null ? null : event.payload.load?.settings ?? null;
        if (built !== loadedSettings) {
            loadedSettings = built;
            settings.markLoaded(built);
            emit(eventEnvelope('settings.changed', settings.state));
        }
    }, settings.settings.engine, engineTimeouts);
    const loader = new ModelLoader(supervisor, settings);
    const tools = new ChatTools(db, () => supervisor.state);
    chats = new ChatService(db, supervisor, paths.snapshots, emit, spawnExtractor, (chatId) => tools.forReply(chatId));
    void supervisor.start().catch(() => {}); // failures surface as engine state
    let disposed = false;
    const jobs = new HostJobs(spawnHost, emit, jobIdleMs);
    const models = new ModelsService({ ...modelOptions, settings, supervisor, open: (file) => loader.load({ path: file }), journal: db.settings, emit });
    /** Where a kind of data is: the file or folder (`file`), or the folder to open. */
    const folderOf = (kind: DataKind, file: boolean): string => {
        const where = kind === 'models' ? models.folder() : paths[kind];
        return file || !FILE_KINDS.has(kind) ? where : path.dirname(where);
    };
    const handlers: Handlers<typeof uiRequests> = {
        ...supervisor.handlers(),
        ...loader.handlers(),
        ...chats.handlers(),
        ...tools.handlers(),
        ...models.handlers(),
        'kv.profile': (params) => jobs.profile(params, settings.settings.engine),
        'kv.testRecall': async (params) => {
            const load = supervisor.loadedWith;
            if (load == null) throw noModelLoaded();
            return jobs.testRecall({ ...params, load }, settings.settings.engine);
        },
        'kv.cancel': async () => ({ cancelled: jobs.cancel() }),
        'model.pickFile': async () => {
            if (pickModelFile == null) {
                throw new HeadroomError('NOT_AVAILABLE', 'There is no file picker in the browser: type the model file\'s path on the machine running Headroom.');
            }
            return { path: await pickModelFile() };
        },
        'app.dataLocations': async () => ({
            kinds: DATA_KINDS.map((kind) => ({ kind, label: DATA_KIND_LABELS[kind], path: folderOf(kind, true), folder: folderOf(kind, false) })),
            canOpen: options.openFolder != null,
            moved: [...moved],
        }),
        'app.openFolder': async ({ kind }) => {
            if (options.openFolder == null) throw new HeadroomError('NOT_AVAILABLE', `A browser cannot open folders on this machine: ${DATA_KIND_LABELS[kind]} are in ${folderOf(kind, false)}.`);
            const folder = folderOf(kind, false);
            mkdirSync(folder, { recursive: true });
            await options.openFolder(folder);
            return {};
        },
        'settings.get': async () => settings.state,
        'settings.update': async (patch) => {
            const folder = models.folder();
            const state = settings.update(patch);
            // another llama.cpp needs another engine host: it starts and loads the model again
            void supervisor.useEngine(state.settings.engine).catch(() => {}); // failures surface as engine state
            emit(eventEnvelope('settings.changed', state));
            if (models.folder() !== folder) emit(eventEnvelope('models.changed', {}));
            return state;
        },
    };
    let nextId = 1;
    return {
        handlers,
        async request(method, params) {
            const response = await dispatch(uiContract, handlers, { type: 'request', id: nextId++, method, params });
            if (!response.ok) throw fromRpcError(response.error);
            return response.result as UiResult<typeof method>;
        },
        supervisor,
        loader,
        settings,
        chats,
        models,
        db,
        paths,
        moved,
        subscribe(listener) {
            listeners.add(listener);
            return () => listeners.delete(listener);
        },
        dispose: () => {
            if (disposed) return;
            disposed = true;
            jobs.cancel();
            supervisor.dispose();
            // Downloads note in the database that they were interrupted, then close their files.
            void models.dispose();
            db.close();
            lock.release();
        },
    };
}
