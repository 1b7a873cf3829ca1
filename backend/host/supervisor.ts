// Runs the engine host as a separate process and stands between it and the UI:
// tracks engine state, turns a crash into a plain-words error, and restarts on request
// (reloading the last model); chats live in the backend's database, so nothing is lost.
import type { EngineState, EngineStatus, EventEnvelope, Params, Result } from '../../common/contract.ts';
import { ENGINE_CHOICE_ENV, engineEnv, type EngineChoice } from '../../common/loadOptions.ts';
import { engineBusy, fromRpcError, HeadroomError, noModelLoaded, toRpcError } from '../../common/errors.ts';
import { eventEnvelope, type Handlers, type RpcClient } from '../../common/rpc.ts';
import { describeExit, startHost, type HostProcess, type SpawnHost } from './hostProcess.ts';

/** What the UI may ask of the engine directly; generation goes through the chat service. */
export type SupervisorHandlers = Handlers<'engine.getState' | 'engine.restart' | 'engine.kvStats' | 'model.load' | 'model.unload' | 'memory.stats' | 'memory.plan' | 'memory.fit'>;

export class EngineSupervisor {
    #spawnHost: SpawnHost;
    #emit: (event: EventEnvelope) => void;
    #host: HostProcess | null = null;
    #client: RpcClient | null = null;
    #ready: Promise<void> | null = null;
    #lastLoad: Params<'model.load'> | null = null;
    #state: EngineState = { status: 'starting', model: null, error: null, pid: null, restarts: 0 };
    #disposed = false;
    #engine: EngineChoice;

    constructor(spawnHost: SpawnHost, emit: (event: EventEnvelope) => void, engine: EngineChoice = 'compressed') {
        this.#spawnHost = spawnHost;
        this.#emit = emit;
        this.#engine = engine;
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
            if (event.name !== 'host.ready') this.#emit(event);
        }, 'The engine', this.#hostEnv());
        this.#host = host;
        this.#client = client;
        this.#setState({ status: 'starting', pid: host.pid, model: null });
        const exited = new Promise<never>((_, reject) => host.onExit((exit) => {
            if (this.#host !== host) return; // an old host we replaced on purpose
            this.#host = null;
            this.#client = null;
            this.#ready = null;
            const error = describeExit(exit);
            client.failAll(error.code, error.message);
            reject(fromRpcError(error));
            if (!this.#disposed) this.#setState({ status: 'crashed', error, pid: null, model: null });
        }));
        this.#ready = Promise.race([ready, exited]).then((pid) => this.#setState({ status: 'idle', pid, error: null }));
        this.#ready.catch(() => {}); // observed by callers; avoid unhandled rejections here
        return this.#ready;
    }

    async #connected(): Promise<RpcClient> {
        if (this.#state.status === 'crashed') {
            throw new HeadroomError(this.#state.error?.code ?? 'ENGINE_CRASHED', 'The engine is not running. Restart it to continue.');
        }
        await this.start();
        if (this.#client == null) throw new HeadroomError('ENGINE_UNAVAILABLE', 'The engine stopped while starting. Restart it to continue.');
        return this.#client;
    }

    async restart(): Promise<EngineState> {
        this.#stopHost();
        this.#setState({ restarts: this.#state.restarts + 1, error: null });
        await this.start();
        if (this.#lastLoad != null) await this.load(this.#lastLoad);
        return this.#state;
    }

    async load(params: Params<'model.load'>): Promise<Result<'model.load'>> {
        const client = await this.#connected();
        if (this.#state.status === 'generating' || this.#state.status === 'loading') throw engineBusy();
        this.#setState({ status: 'loading', error: null });
        try {
            const model = await client.request('model.load', params);
            this.#lastLoad = params;
            this.#setState({ status: 'ready', model });
            return model;
        } catch (error) {
            if (this.#is('loading')) this.#setState({ status: 'idle', model: null, error: toRpcError(error) });
            throw error;
        }
    }

    async unload(): Promise<void> {
        const client = await this.#connected();
        await client.request('model.unload', {});
        this.#lastLoad = null;
        this.#setState({ status: 'idle', model: null });
    }

    async generate(params: Params<'generate.run'>): Promise<Result<'generate.run'>> {
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
            'model.load': (params) => this.load(params),
            'model.unload': async () => {
                await this.unload();
                return {};
            },
            // Memory questions go to the engine host: only it may load node-llama-cpp.
            'memory.stats': async (params) => (await this.#connected()).request('memory.stats', params),
            'memory.plan': async (params) => (await this.#connected()).request('memory.plan', params),
            'memory.fit': async (params) => (await this.#connected()).request('memory.fit', params),
        };
    }

    #stopHost(): void {
        const host = this.#host;
        const client = this.#client;
        this.#host = null;
        this.#client = null;
        this.#ready = null;
        client?.failAll('ENGINE_UNAVAILABLE', 'The engine was restarted.');
        host?.kill();
    }

    dispose(): void {
        this.#disposed = true;
        this.#stopHost();
    }
}
