// Runs the engine host as a separate process and stands between it and the UI:
// tracks engine state, turns a crash into a plain-words error, and restarts on request
// (reloading the last model); chats live in the backend's database, so nothing is lost.
// A request that hangs (a load, plan or fit past its time) kills the host and starts a new
// one with the same model, so one bad file never leaves the engine stuck.
import type { EngineState, EngineStatus, EventEnvelope, HostEventEnvelope, HostMethod, LoadRecord, Params, Result } from '../../common/contract.ts';
import type { ContextChoice, LoadParams } from '../../common/loadParams.ts';
import { ENGINE_CHOICE_ENV, engineEnv, type EngineChoice } from '../../common/loadOptions.ts';
import { engineBusy, errorMessage, fromRpcError, HeadroomError, noModelLoaded, toRpcError } from '../../common/errors.ts';
import { eventEnvelope, type Handlers } from '../../common/rpc.ts';
import type { uiRequests } from '../../common/uiContract.ts';
import { describeExit, startHost, type HostProcess, type SpawnHost, type StartedHost } from './hostProcess.ts';

/** What the supervisor tells the backend: the engine's state, and what the host sent (validated). */
export type SupervisorEvent = HostEventEnvelope | EventEnvelope<'engine.state'>;

/** What the window may ask of the engine as it is; loads and plans are built by the model loader, generation by the chat service. */
export type SupervisorHandlers = Handlers<typeof uiRequests, 'engine.getState' | 'engine.restart' | 'engine.kvStats' | 'model.unload' | 'memory.stats' | 'kv.profileEstimate'>;

/** How a load's context was chosen when the caller gave its parameters itself (ask, plan, the benchmarks, tests). */
export function givenContext(params: LoadParams): ContextChoice | null {
    return params.contextSize == null ? null : { source: 'given', tokens: params.contextSize, summary: `${params.contextSize.toLocaleString('en-US')} tokens, as asked.` };
}

/** How long the engine host may take before it is thought stuck, killed and started again. */
export interface EngineTimeouts {
    /** A load with no progress for this long (reading weights reports progress; creating the context does not). */
    loadIdleMs: number;
    planMs: number;
    fitMs: number;
}

export const DEFAULT_ENGINE_TIMEOUTS: EngineTimeouts = { loadIdleMs: 300_000, planMs: 120_000, fitMs: 240_000 };

/** A load about to be sent: its context's choice is known once the engine says what it made, when the caller asked for none. */
type PendingLoad = Omit<LoadRecord, 'context'> & { context: ContextChoice | null };

const HUNG = Symbol('hung');
const seconds = (ms: number) => (ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`);

/** A timer that fires once unless it is kicked (progress) or stopped in time. */
class Watchdog {
    #timer: ReturnType<typeof setTimeout> | undefined;
    #ms: number;
    #fire: () => void;

    constructor(ms: number, fire: () => void) {
        this.#ms = ms;
        this.#fire = fire;
        this.kick();
    }

    kick(): void {
        clearTimeout(this.#timer);
        this.#timer = setTimeout(this.#fire, this.#ms);
    }

    stop(): void {
        clearTimeout(this.#timer);
    }
}

export class EngineSupervisor {
    #spawnHost: SpawnHost;
    #emit: (event: SupervisorEvent) => void;
    #timeouts: EngineTimeouts;
    #host: HostProcess | null = null;
    #client: StartedHost['client'] | null = null;
    #ready: Promise<void> | null = null;
    /** What the last model was loaded with, exactly as sent, and what it was built from. */
    #lastLoad: LoadRecord | null = null;
    #loadWatchdog: Watchdog | null = null;
    #state: EngineState = { status: 'starting', model: null, load: null, error: null, pid: null, restarts: 0 };
    #disposed = false;
    #engine: EngineChoice;
    /**
     * The newest restart's work (a new host, the last model loaded again), kept after it ends: a
     * restart whose host was replaced by a newer restart answers with the newer one's outcome.
     */
    #reload: Promise<void> | null = null;
    /** Whether a restart is still under way: requests wait for it instead of finding no model. */
    #reloading = false;

    constructor(spawnHost: SpawnHost, emit: (event: SupervisorEvent) => void, engine: EngineChoice = 'compressed', timeouts: Partial<EngineTimeouts> = {}) {
        this.#spawnHost = spawnHost;
        this.#emit = emit;
        this.#engine = engine;
        this.#timeouts = { ...DEFAULT_ENGINE_TIMEOUTS, ...timeouts };
    }

    /**
     * Which llama.cpp the host runs. A process loads one, so a change starts a new host, which
     * loads the last model again.
     */
    async useEngine(engine: EngineChoice): Promise<void> {
        if (engine === this.#engine) return;
        this.#engine = engine;
        if (this.#host != null && this.#state.status !== 'crashed') await this.restart();
    }

    get state(): EngineState {
        return this.#state;
    }

    /** What the loaded model was loaded with, as sent to the engine host; null when none is loaded. */
    get loadedWith(): LoadParams | null {
        return this.#state.load?.params ?? null;
    }

    /** State changes while a request is awaited: read it fresh, not as narrowed before. */
    #is(status: EngineStatus): boolean {
        return this.#state.status === status;
    }

    #setState(patch: Partial<EngineState>): void {
        this.#state = { ...this.#state, ...patch };
        this.#emit(eventEnvelope('engine.state', this.#state));
    }

    /** The host's llama.cpp; HEADROOM_LLAMA_BUILD set for the whole app (a developer, a test) overrides the setting. */
    #hostEnv(): Record<string, string> {
        return process.env[ENGINE_CHOICE_ENV] != null ? {} : engineEnv(this.#engine);
    }

    /** Start the host if none is running; resolves once it is ready for requests. */
    start(): Promise<void> {
        if (this.#ready != null) return this.#ready;
        // Load progress, streamed text and memory go straight through to the UI.
        const { host, client, ready } = startHost(this.#spawnHost, (event) => {
            if (event.name === 'model.loadProgress') this.#loadWatchdog?.kick();
            if (event.name !== 'host.ready') this.#emit(event);
        }, 'The engine', this.#hostEnv());
        this.#host = host;
        this.#client = client;
        this.#setState({ status: 'starting', pid: host.pid, model: null, load: null });
        const exited = new Promise<never>((_, reject) => host.onExit((exit) => {
            // An old host replaced on purpose (a restart): whoever still waits for it hears so, and
            // follows the new one (#connected, #settle); nothing else changes.
            if (this.#host !== host) return reject(new HeadroomError('ENGINE_UNAVAILABLE', 'The engine was restarted.'));
            this.#host = null;
            this.#client = null;
            this.#ready = null;
            const error = describeExit(exit);
            client.failAll(error.code, error.message);
            reject(fromRpcError(error));
            if (!this.#disposed) this.#setState({ status: 'crashed', error, pid: null, model: null, load: null });
        }));
        this.#ready = Promise.race([ready, exited]).then((pid) => {
            if (this.#host === host) this.#setState({ status: 'idle', pid, error: null });
        });
        this.#ready.catch(() => {}); // observed by callers; avoid unhandled rejections here
        return this.#ready;
    }

    async #connected(): Promise<StartedHost['client']> {
        for (;;) {
            const refusal = this.#crashRefusal();
            if (refusal != null) throw refusal;
            const ready = this.start();
            try {
                await ready;
            } catch (error) {
                // The host was replaced while it started (a restart): wait for the new one.
                if (this.#ready != null && this.#ready !== ready) continue;
                throw error;
            }
            if (this.#client == null) throw new HeadroomError('ENGINE_UNAVAILABLE', 'The engine stopped while starting. Restart it to continue.');
            return this.#client;
        }
    }

    #crashRefusal(): HeadroomError | null {
        if (!this.#is('crashed')) return null;
        const model = this.#lastLoad == null ? '' : ` Restarting it loads ${baseName(this.#lastLoad.params.path)} again.`;
        return new HeadroomError(this.#state.error?.code ?? 'ENGINE_CRASHED', `The engine is not running: it stopped unexpectedly. Your conversation is kept; restart the engine to continue.${model}`);
    }

    /** Why a reply cannot start now, in words for the user; null when it can. */
    generationRefusal(): HeadroomError | null {
        if (this.#reloading) return null; // a restart: the reply waits for the model (settled)
        const crashed = this.#crashRefusal();
        if (crashed != null) return crashed;
        if (this.#is('loading') || this.#is('starting')) return new HeadroomError('BUSY', 'The model is still loading; send again when it is ready.');
        if (this.#state.model == null) return noModelLoaded();
        return null;
    }

    /**
     * A new host with the last model. Two at once (two windows, a double click) both answer: the
     * second replaces the first one's host, and the first answers with the second's outcome.
     */
    async restart(): Promise<EngineState> {
        this.#stopHost();
        this.#setState({ restarts: this.#state.restarts + 1, error: null });
        const reload = this.#lastLoad;
        await this.#settle(this.#beginReload(async () => {
            await this.start();
            if (reload != null) await this.#load(reload);
        }));
        return this.#state;
    }

    /** Runs a restart's work as the newest one; #reloading holds until the newest of them ends. */
    #beginReload(work: () => Promise<void>): Promise<void> {
        this.#reloading = true;
        const reload = work();
        this.#reload = reload;
        const settle = () => {
            if (this.#reload === reload) this.#reloading = false;
        };
        reload.then(settle, settle);
        return reload;
    }

    /** A restart's outcome; when a newer restart replaced its host meanwhile, the newest one's. */
    async #settle(reload: Promise<void>): Promise<void> {
        let current = reload;
        for (;;) {
            try {
                await current;
                return;
            } catch (error) {
                const newer = this.#reload;
                if (newer == null || newer === current) throw error;
                current = newer;
            }
        }
    }

    /** Whether a restart (a new host, the model loaded again) is under way. */
    get restarting(): boolean {
        return this.#reloading;
    }

    /** Resolves once no restart is under way (whatever its outcome): a reply asked for meanwhile waits for the model. */
    async settled(): Promise<void> {
        while (this.#reloading && this.#reload != null) await this.#reload.catch(() => {});
    }

    /**
     * A request that must answer in time: when it does not, the host is killed, a new one
     * started and the last model loaded again, and the request fails saying so.
     */
    async #timed<M extends HostMethod>(client: StartedHost['client'], method: M, params: Params<M>, what: string, ms: number, watchdog?: (dog: Watchdog | null) => void): Promise<Result<M>> {
        const request = client.request(method, params);
        request.catch(() => {}); // raced below; once the host is killed for hanging, its failure is no news
        let hung = () => {};
        const hang = new Promise<typeof HUNG>((resolve) => {
            hung = () => resolve(HUNG);
        });
        const dog = new Watchdog(ms, () => hung());
        watchdog?.(dog);
        try {
            const outcome = await Promise.race([request, hang]);
            if (outcome !== HUNG) return outcome;
        } finally {
            dog.stop();
            watchdog?.(null);
        }
        const again = await this.#restartAfterHang();
        throw new HeadroomError('TIMED_OUT', `${what} took longer than ${seconds(ms)}${watchdog != null ? ' without progress' : ''}, so the engine was stopped and started again${again}.`);
    }

    /** A fresh host with the last model; says what was loaded again, for the message. */
    async #restartAfterHang(): Promise<string> {
        const reload = this.#lastLoad;
        this.#stopHost();
        this.#setState({ restarts: this.#state.restarts + 1, model: null, load: null, error: null });
        try {
            await this.#settle(this.#beginReload(async () => {
                await this.start();
                if (reload != null) await this.#load(reload);
            }));
            return reload == null ? '' : `; ${baseName(reload.params.path)} is loaded again`;
        } catch {
            return reload == null ? '' : `, but ${baseName(reload.params.path)} could not be loaded again`;
        }
    }

    /**
     * Loads a model with exactly these parameters (what the model loader built, or a caller's own:
     * `ask`, the benchmarks, tests), recorded with how they were chosen. A load that fails leaves
     * the previous model loaded or loads it again, and its message says which.
     */
    load(params: LoadParams, how: { context?: ContextChoice | null; settings?: LoadRecord['settings']; overrides?: LoadRecord['overrides'] } = {}): Promise<Result<'model.load'>> {
        const context = how.context ?? givenContext(params);
        return this.#load({ params, context, settings: how.settings ?? null, overrides: how.overrides ?? {} });
    }

    async #load(record: PendingLoad): Promise<Result<'model.load'>> {
        const { params } = record;
        const client = await this.#connected();
        if (this.#state.status === 'generating' || this.#state.status === 'loading') throw engineBusy();
        const previous = this.#state.model != null ? this.#lastLoad : null;
        this.#setState({ status: 'loading', error: null });
        try {
            const model = await this.#timed(client, 'model.load', params, `Loading ${baseName(params.path)}`, this.#timeouts.loadIdleMs, (dog) => {
                this.#loadWatchdog = dog;
            });
            // The context as loaded: without a size asked for, the engine chose it.
            const loaded = { ...record, context: record.context ?? { source: 'given' as const, tokens: model.contextSize, summary: `${model.contextSize.toLocaleString('en-US')} tokens, the engine's default.` } };
            this.#lastLoad = loaded;
            this.#setState({ status: 'ready', model, load: loaded });
            return model;
        } catch (error) {
            if (!this.#is('loading')) throw error; // crashed, or restarted after a hang: that path said what happened
            const { code, message } = toRpcError(error);
            if (previous == null) {
                this.#setState({ status: 'idle', model: null, load: null, error: toRpcError(error) });
                throw error;
            }
            const name = baseName(previous.params.path);
            // The host refuses a bad file (its header, its chat template) before it unloads anything.
            const kept = await client.request('model.loaded', {}).then(({ model }) => model, () => null);
            if (kept != null) {
                this.#setState({ status: 'ready', model: kept, load: previous });
                throw new HeadroomError(code, `${message} ${name} is still loaded.`, error instanceof HeadroomError ? error.field : undefined);
            }
            // A load that failed later (no memory for the context, a cache type llama.cpp refused) unloaded it first: load it again.
            let restored: Result<'model.load'>;
            try {
                restored = await client.request('model.load', previous.params);
            } catch (again) {
                const said = `${message} ${name} was unloaded to make room and could not be loaded again (${errorMessage(again).replace(/\.$/, '')}), so no model is loaded.`;
                this.#setState({ status: 'idle', model: null, load: null, error: { code, message: said } });
                throw new HeadroomError(code, said);
            }
            this.#setState({ status: 'ready', model: restored, load: previous });
            throw new HeadroomError(code, `${message} ${name} was unloaded to make room, and is loaded again.`, error instanceof HeadroomError ? error.field : undefined);
        }
    }

    async unload(): Promise<void> {
        const client = await this.#connected();
        await client.request('model.unload', {});
        this.#lastLoad = null;
        this.#setState({ status: 'idle', model: null, load: null });
    }

    async generate(params: Params<'generate.run'>): Promise<Result<'generate.run'>> {
        await this.settled(); // a restart asked for just before: the reply is written once the model is back
        if (this.#state.model == null && this.#state.status !== 'crashed') throw noModelLoaded();
        const client = await this.#connected();
        if (this.#state.status !== 'ready') throw new HeadroomError('BUSY', 'The engine is busy with another request.');
        this.#setState({ status: 'generating' });
        try {
            return await client.request('generate.run', params);
        } finally {
            if (this.#is('generating')) this.#setState({ status: 'ready' });
        }
    }

    /** What the loaded model's KV cache holds and where (the engine host answers). */
    async kvStats(): Promise<Result<'engine.kvStats'>> {
        if (this.#state.model == null) throw noModelLoaded();
        const client = await this.#connected();
        return client.request('engine.kvStats', {});
    }

    /** What a model needs at these settings (the engine host plans it, counting the loaded model's memory as free). */
    async plan(params: Params<'memory.plan'>): Promise<Result<'memory.plan'>> {
        return this.#timed(await this.#connected(), 'memory.plan', params, `Planning memory for ${baseName(params.path)}`, this.#timeouts.planMs);
    }

    /** The largest context, or the least compression, that fits this machine. */
    async fit(params: Params<'memory.fit'>): Promise<Result<'memory.fit'>> {
        return this.#timed(await this.#connected(), 'memory.fit', params, `Fitting ${baseName(params.request.path)} to this machine`, this.#timeouts.fitMs);
    }

    /** The catalog's verdicts on this machine (the engine host plans them from published shapes). */
    async fitPublished(params: Params<'memory.fitPublished'>): Promise<Result<'memory.fitPublished'>> {
        return (await this.#connected()).request('memory.fitPublished', params);
    }

    async stopGeneration(params: Params<'generate.stop'>): Promise<Result<'generate.stop'>> {
        if (this.#client == null) return { stopped: false };
        return this.#client.request('generate.stop', params);
    }

    /** Token counts with the loaded model's tokenizer; null when no model is loaded. */
    async countTokens(texts: string[]): Promise<number[] | null> {
        if (this.#state.model == null) return null;
        if (this.#client == null || texts.length === 0) return [];
        return (await this.#client.request('model.countTokens', { texts })).tokens;
    }

    handlers(): SupervisorHandlers {
        return {
            'engine.getState': async () => this.#state,
            'engine.restart': () => this.restart(),
            'engine.kvStats': () => this.kvStats(),
            'model.unload': async () => {
                await this.unload();
                return {};
            },
            // Memory questions go to the engine host: only it may load node-llama-cpp.
            'memory.stats': async (params) => (await this.#connected()).request('memory.stats', params),
            // The chat engine has the model loaded: it measures how fast it reads a prompt.
            'kv.profileEstimate': async (params) => {
                if (this.#state.model == null) throw noModelLoaded();
                return (await this.#connected()).request('kv.profileEstimate', params);
            },
        };
    }

    #stopHost(): void {
        const host = this.#host;
        const client = this.#client;
        this.#host = null;
        this.#client = null;
        this.#ready = null;
        client?.failAll('ENGINE_UNAVAILABLE', 'The engine was restarted while this was under way; try again once it is ready.');
        host?.kill();
    }

    dispose(): void {
        this.#disposed = true;
        this.#stopHost();
    }
}

/** A model file's name without its folder, as messages show it (either separator: the path may be a Windows one). */
function baseName(path: string): string {
    return path.split(/[\\/]/).at(-1) ?? path;
}
