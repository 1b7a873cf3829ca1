// An engine host process as the backend sees it, whatever started it (Node's fork in web mode
// and the CLIs, Electron's utilityProcess in the app): messages both ways, and how it ended.
import { hostContract, type HostEvent, type HostEventEnvelope, type hostRequests } from '../../common/contract.ts';
import { HeadroomError, type RpcError } from '../../common/errors.ts';
import { RpcClient } from '../../common/rpc.ts';

export interface HostExit {
    code: number | null;
    signal: string | null;
    stderrTail: string;
}

export interface HostProcess {
    readonly pid: number | null;
    send: (message: unknown) => void;
    onMessage: (listener: (message: unknown) => void) => void;
    onExit: (listener: (exit: HostExit) => void) => void;
    kill: () => void;
}

/** Starts a host; `env` adds to the parent's environment (which llama.cpp build it loads). */
export type SpawnHost = (env?: Record<string, string>) => HostProcess;

const STDERR_TAIL_BYTES = 8192;

/** The last few KiB of a host's stderr, where out-of-memory messages end up. */
export function stderrTail(): { add: (chunk: Buffer) => void; readonly text: string } {
    let text = '';
    return {
        add(chunk) {
            process.stderr.write(chunk);
            text = (text + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
        },
        get text() {
            return text;
        },
    };
}

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

export interface StartedHost {
    host: HostProcess;
    client: RpcClient<typeof hostRequests, HostEvent>;
    /** Resolves with the host's pid once it takes requests; rejects when it fails to start in time. */
    ready: Promise<number>;
}

/** Spawns a host and an RPC client on it; the client sees every validated message the host sends. */
export function startHost(spawnHost: SpawnHost, onEvent: (event: HostEventEnvelope) => void, what = 'The engine', env?: Record<string, string>): StartedHost {
    const host = spawnHost(env);
    // Only the events a host sends: one that claims to be a stored message or the engine's state is dropped.
    const client = new RpcClient(hostContract, (envelope) => host.send(envelope));
    host.onMessage((message) => client.receive(message));
    client.onEvent(onEvent);
    const ready = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new HeadroomError('ENGINE_UNAVAILABLE', `${what} did not start in time.`)), HOST_START_TIMEOUT_MS);
        client.on('host.ready', ({ pid }) => {
            clearTimeout(timer);
            resolve(pid);
        });
        host.onExit(() => clearTimeout(timer));
    });
    return { host, client, ready };
}
