// Runs the engine host as a separate process and stands between it and the UI:
// tracks engine state, turns a crash into a plain-words error, and restarts on request
// (reloading the last model); chats live in the backend's database, so nothing is lost.
import type { EngineState, EngineStatus, EventEnvelope, Params, RpcError } from '../../common/contract.ts';
import { eventEnvelope, HeadroomError, RpcClient, toRpcError, type Handlers } from '../../common/rpc.ts';

export interface HostExit {
    code: number | null;
    signal: string | null;
    stderrTail: string;
}

/** A started engine host process, whatever started it (Node's fork or Electron's utilityProcess). */
export interface HostProcess {
    readonly pid: number | null;
    send(message: unknown): void;
    onMessage(listener: (message: unknown) => void): void;
    onExit(listener: (exit: HostExit) => void): void;
    kill(): void;
}

export type SpawnHost = () => HostProcess;

/** What the UI may ask of the engine directly; generation goes through the chat service. */
export type SupervisorHandlers = Handlers<'engine.getState' | 'engine.restart' | 'engine.kvStats' | 'model.load' | 'model.unload' | 'memory.stats' | 'memory.plan' | 'memory.fit'>;

const OUT_OF_MEMORY = /out of memory|bad_alloc|failed to allocate|cudaMalloc failed|ErrorOutOfDeviceMemory|heap out of memory/i;

export function describeExit({ code, signal, stderrTail }: HostExit): RpcError {
    const how = signal != null ? `signal ${signal}` : `exit code ${code}`;
    if (OUT_OF_MEMORY.test(stderrTail)) {
        return {
            code: 'ENGINE_OUT_OF_MEMORY',
            message: `The engine ran out of memory and stopped (${how}). Your conversation is kept. Try a smaller context size or a smaller model, then restart the engine.`,
        };
    }
    return {
        code: 'ENGINE_CRASHED',
        message: `The engine stopped unexpectedly (${how}). Your conversation is kept; restart the engine to continue.`,
    };
}

const HOST_START_TIMEOUT_MS = 30_000;

export class EngineSupervisor {
    #spawnHost: SpawnHost;
    #emit: (envelope: EventEnvelope) => void;
    #host: HostProcess | null = null;
    #client: RpcClient | null = null;
    #ready: Promise<void> | null = null;
    #lastLoad: Params<'model.load'> | null = null;
    #state: EngineState = { status: 'starting', model: null, error: null, pid: null, restarts: 0 };
    #disposed = false;

    constructor(spawnHost: SpawnHost, emit: (envelope: EventEnvelope) => void) {
        this.#spawnHost = spawnHost;
        this.#emit = emit;
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

    /** Start the host if none is running; resolves once it is ready for requests. */
    start(): Promise<void> {
        if (this.#ready != null) return this.#ready;
        const host = this.#spawnHost();
        const client = new RpcClient((envelope) => host.send(envelope));
        this.#host = host;
        this.#client = client;
        this.#setState({ status: 'starting', pid: host.pid, model: null });
        this.#ready = new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new HeadroomError('ENGINE_UNAVAILABLE', 'The engine did not start in time.')), HOST_START_TIMEOUT_MS);
            client.on('host.ready', ({ pid }) => {
                clearTimeout(timer);
                this.#setState({ status: 'idle', pid, error: null });
                resolve();
            });
            host.onExit((exit) => {
                clearTimeout(timer);
                if (this.#host !== host) return; // an old host we replaced on purpose
                this.#host = null;
                this.#client = null;
                this.#ready = null;
                const error = describeExit(exit);
                client.failAll(error.code, error.message);
                reject(new HeadroomError(error.code, error.message));
                if (!this.#disposed) this.#setState({ status: 'crashed', error, pid: null, model: null });
            });
        });
        this.#ready.catch(() => {}); // observed by callers; avoid unhandled rejections here
        host.onMessage((message) => {
            client.receive(message);
            // Load progress and streamed text go straight through to the UI.
            const name = (message as { type?: string; name?: string }).name;
            if ((message as { type?: string }).type === 'event' && name !== 'host.ready') this.#emit(message as EventEnvelope);
        });
        return this.#ready;
    }

    async #connected(): Promise<RpcClient> {
        if (this.#state.status === 'crashed') {
            throw new HeadroomError(this.#state.error?.code ?? 'ENGINE_CRASHED', 'The engine is not running. Restart it to continue.');
        }
        await this.start();
        return this.#client!;
    }

    async restart(): Promise<EngineState> {
        this.#stopHost();
        this.#setState({ restarts: this.#state.restarts + 1, error: null });
        await this.start();
        if (this.#lastLoad != null) await this.load(this.#lastLoad);
        return this.#state;
    }

    async load(params: Params<'model.load'>) {
        const client = await this.#connected();
        if (this.#state.status === 'generating' || this.#state.status === 'loading') {
            throw new HeadroomError('BUSY', 'The engine is busy; stop the current reply first.');
        }
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

    async generate(params: Params<'generate.run'>) {
        if (this.#state.model == null && this.#state.status !== 'crashed') {
            throw new HeadroomError('NO_MODEL', 'No model is loaded. Pick a model first.');
        }
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
    async kvStats() {
        if (this.#state.model == null) throw new HeadroomError('NO_MODEL', 'No model is loaded. Pick a model first.');
        const client = await this.#connected();
        return client.request('engine.kvStats', {});
    }

    async stopGeneration(params: Params<'generate.stop'>) {
        if (this.#client == null) return { stopped: false };
        return this.#client.request('generate.stop', params);
    }

    /** Token counts with the loaded model's tokenizer; null when no model is loaded. */
    async countTokens(texts: string[]): Promise<number[] | null> {
        if (this.#state.model == null || this.#client == null || texts.length === 0) return this.#state.model == null ? null : [];
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
