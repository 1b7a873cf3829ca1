// Profiling a model's KV heads from the app. It runs in an engine host of its own, started for
// the job and stopped after it: the profiler loads the model many times with its own contexts,
// which must not disturb the chat engine's model, logs or memory, and a crash while profiling
// must not take the chat engine down. A profile that makes no progress for too long is stopped
// the same way, so "Profile heads" is never left busy for good.
import type { EventEnvelope, Params, Result } from '../../common/contract.ts';
import { HeadroomError } from '../../common/errors.ts';
import { describeExit, startHost, type SpawnHost } from './hostProcess.ts';

/** Scoring one head of a large model on a CPU takes minutes; none for this long means it is stuck. */
export const PROFILE_IDLE_MS = 15 * 60_000;

export class HeadProfiling {
    #spawnHost: SpawnHost;
    #emit: (event: EventEnvelope) => void;
    #idleMs: number;
    #running: string | null = null;

    constructor(spawnHost: SpawnHost, emit: (event: EventEnvelope) => void, idleMs = PROFILE_IDLE_MS) {
        this.#spawnHost = spawnHost;
        this.#emit = emit;
        this.#idleMs = idleMs;
    }

    async run(params: Params<'kv.profile'>): Promise<Result<'kv.profile'>> {
        if (this.#running != null) throw new HeadroomError('BUSY', `Already profiling ${this.#running}; wait for it to finish.`);
        this.#running = params.path;
        let stalled = () => {};
        const stall = new Promise<never>((_, reject) => {
            stalled = () => reject(new HeadroomError('TIMED_OUT', `Profiling made no progress for ${Math.round(this.#idleMs / 1000)} s and was stopped.`));
        });
        stall.catch(() => {});
        let timer = setTimeout(stalled, this.#idleMs);
        const { host, client, ready } = startHost(this.#spawnHost, (event) => {
            if (event.name !== 'kv.profileProgress') return;
            clearTimeout(timer);
            timer = setTimeout(stalled, this.#idleMs);
            this.#emit(event);
        }, 'The profiler');
        const exited = new Promise<never>((_, reject) => host.onExit((exit) => {
            const error = describeExit(exit);
            reject(new HeadroomError(error.code, `Profiling stopped: ${error.message}`));
        }));
        exited.catch(() => {});
        try {
            await Promise.race([exited, stall, ready]);
            return await Promise.race([exited, stall, client.request('kv.profile', params)]);
        } finally {
            clearTimeout(timer);
            this.#running = null;
            host.kill();
        }
    }
}
