// Long jobs on a model besides the chat: profiling its KV heads and testing its recall. Each runs
// in an engine host of its own, started for the job and ended after it: the job loads the model
// again with contexts of its own, which must not disturb the chat engine's model, logs or memory,
// and a crash (or a cancel, which ends the host) must not take the chat engine down. One at a time.
// A job that reports no progress for too long is ended the same way, so it never stays busy for good.
import type { HostEventEnvelope, Params, Result } from '../../common/contract.ts';
import { HeadroomError, PROFILING_NEEDS_ENGINE } from '../../common/errors.ts';
import { engineEnv, type EngineChoice } from '../../common/loadOptions.ts';
import { describeExit, startHost, type HostProcess, type SpawnHost, type StartedHost } from './hostProcess.ts';

/** Scoring one head of a large model on a CPU takes minutes; no progress for this long means it is stuck. */
export const JOB_IDLE_MS = 15 * 60_000;

interface Running {
    what: string;
    host: HostProcess;
    cancelled: boolean;
}

export class HostJobs {
    #spawnHost: SpawnHost;
    #emit: (event: HostEventEnvelope) => void;
    #idleMs: number;
    #running: Running | null = null;

    constructor(spawnHost: SpawnHost, emit: (event: HostEventEnvelope) => void, idleMs = JOB_IDLE_MS) {
        this.#spawnHost = spawnHost;
        this.#emit = emit;
        this.#idleMs = idleMs;
    }

    /** Scores a model's heads (always on Headroom's llama.cpp: the stock one cannot measure them). */
    profile(params: Params<'kv.profile'>, engine: EngineChoice): Promise<Result<'kv.profile'>> {
        if (engine === 'stock') return Promise.reject(new HeadroomError('NOT_AVAILABLE', PROFILING_NEEDS_ENGINE));
        return this.#run(`profiling ${params.path}`, 'Profiling', engineEnv('compressed'), (client) => client.request('kv.profile', params));
    }

    /** Needle-in-a-haystack on the chat's model as it was loaded, on the same llama.cpp. */
    testRecall(params: Params<'recall.run'>, engine: EngineChoice): Promise<Result<'recall.run'>> {
        return this.#run('testing recall', 'Test recall', engineEnv(engine), (client) => client.request('recall.run', params));
    }

    /** Ends the running job's host; its request is answered CANCELLED. */
    cancel(): boolean {
        const running = this.#running;
        if (running == null) return false;
        running.cancelled = true;
        running.host.kill();
        return true;
    }

    async #run<T>(what: string, label: string, env: Record<string, string>, work: (client: StartedHost['client']) => Promise<T>): Promise<T> {
        if (this.#running != null) throw new HeadroomError('BUSY', `Already ${this.#running.what}; wait for it to finish or cancel it.`);
        let stalled = () => {};
        const stall = new Promise<never>((_, reject) => {
            stalled = () => reject(new HeadroomError('TIMED_OUT', `${label} made no progress for ${Math.round(this.#idleMs / 1000)} s and was stopped.`));
        });
        stall.catch(() => {});
        let timer = setTimeout(stalled, this.#idleMs);
        const { host, client, ready } = startHost(this.#spawnHost, (event) => {
            if (event.name !== 'kv.profileProgress' && event.name !== 'kv.recallProgress') return;
            clearTimeout(timer);
            timer = setTimeout(stalled, this.#idleMs);
            this.#emit(event);
        }, label, env);
        const running: Running = { what, host, cancelled: false };
        this.#running = running;
        const exited = new Promise<never>((_, reject) => host.onExit((exit) => {
            if (running.cancelled) return reject(new HeadroomError('CANCELLED', `${label} was cancelled.`));
            const error = describeExit(exit);
            reject(new HeadroomError(error.code, `${label} stopped: ${error.message}`));
        }));
        exited.catch(() => {});
        try {
            await Promise.race([exited, stall, ready]);
            return await Promise.race([exited, stall, work(client)]);
        } finally {
            clearTimeout(timer);
            this.#running = null;
            host.kill();
        }
    }
}
