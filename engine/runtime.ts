// node-llama-cpp with our llama.cpp build, once per process: the engine, the profiler and the
// benchmarks all load through it. It owns llama.cpp's log, which is how a load learns what it
// allocated and whether the head-level cache is on, and it runs log-reading work one at a time.
import type { Llama } from 'node-llama-cpp';
import type { Device } from '../common/devices.ts';
import { buildChoice, cmakeOptionsFor } from './kv/native.ts';

export type NodeLlamaCpp = typeof import('node-llama-cpp');

export interface Runtime {
    lib: NodeLlamaCpp;
    llama: Llama;
}

type LogListener = (line: string) => void;

class LlamaRuntime {
    #ready: Promise<Runtime> | null = null;
    #llama: Llama | null = null;
    #listeners = new Set<LogListener>();
    #work: Promise<unknown> = Promise.resolve();

    /**
     * One Llama for the process, also when a load and a plan ask for it at once. A second
     * instance re-registers the addon's log callback, and the released first one, when it is
     * finalized, marks the process as having none: from then on llama.cpp's log goes to stdout
     * and a load no longer learns what it allocated or whether the head-level cache is on.
     */
    get(): Promise<Runtime> {
        this.#ready ??= this.#create().catch((error: unknown) => {
            this.#ready = null;
            throw error;
        });
        return this.#ready;
    }

    /** The Llama once it is loaded: memory snapshots read it without waiting for one. */
    get llama(): Llama | null {
        return this.#llama;
    }

    async #create(): Promise<Runtime> {
        // Imported lazily so a host answers its parent before the native addon loads.
        const lib = await import('node-llama-cpp');
        const { LlamaLogLevel } = lib;
        // Our patched build when it is installed (npm run build:native), else the stock prebuilt
        // binary: both are looked up by their CMake options, never built here.
        const llama = await lib.getLlama({
            gpu: process.env.HEADROOM_GPU === 'false' ? false : 'auto',
            build: 'never',
            cmakeOptions: cmakeOptionsFor(buildChoice()),
            // Info level: llama.cpp reports its buffers (KV, weights, compute) there; only errors
            // go to stderr, where the supervisor looks for out-of-memory messages.
            logLevel: LlamaLogLevel.info,
            logger: (level, message) => {
                for (const line of message.split('\n')) for (const listener of this.#listeners) listener(line);
                if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) {
                    process.stderr.write(message.endsWith('\n') ? message : `${message}\n`);
                }
            },
        });
        this.#llama = llama;
        return { lib, llama };
    }

    /** Hands every llama.cpp log line to `listener` until the returned function is called. */
    listen(listener: LogListener): () => void {
        this.#listeners.add(listener);
        return () => this.#listeners.delete(listener);
    }

    /**
     * Runs llama.cpp work that must not overlap another's. node-llama-cpp's memory estimates
     * (plan, fit) quiet llama.cpp's log for the whole process while they simulate a load, and a
     * real load learns what it allocated, and whether the head-level cache is on, from that log.
     */
    exclusive<T>(work: () => Promise<T>): Promise<T> {
        const run = this.#work.then(work, work);
        this.#work = run.catch(() => undefined);
        return run;
    }
}

export const runtime = new LlamaRuntime();

/** Where llama.cpp computes: the GPU backend it loaded, or the CPU. */
export function computeDevice(llama: Llama): Device {
    return llama.gpu === false ? 'cpu' : 'gpu';
}
