// Profiling a model's KV heads from the app. It runs in an engine host of its own, started for
// the job and stopped after it: the profiler loads the model many times with its own contexts,
// which must not disturb the chat engine's model, logs or memory, and a crash while profiling
// must not take the chat engine down.
import type { EventEnvelope, Params, Result } from '../../common/contract.ts';
import { HeadroomError } from '../../common/errors.ts';
import { describeExit, startHost, type SpawnHost } from './hostProcess.ts';

export class HeadProfiling {
    #spawnHost: SpawnHost;
    #emit: (event: EventEnvelope) => void;
    #running: string | null = null;

    constructor(spawnHost: SpawnHost, emit: (event: EventEnvelope) => void) {
        this.#spawnHost = spawnHost;
        this.#emit = emit;
    }

    async run(params: Params<'kv.profile'>): Promise<Result<'kv.profile'>> {
        if (this.#running != null) throw new HeadroomError('BUSY', `Already profiling ${this.#running}; wait for it to finish.`);
        this.#running = params.path;
        const { host, client, ready } = startHost(this.#spawnHost, (event) => {
            if (event.name === 'kv.profileProgress') this.#emit(event);
        }, 'The profiler');
        const exited = new Promise<never>((_, reject) => host.onExit((exit) => {
            const error = describeExit(exit);
            reject(new HeadroomError(error.code, `Profiling stopped: ${error.message}`));
        }));
        exited.catch(() => {});
        try {
            await Promise.race([exited, ready]);
            return await Promise.race([exited, client.request('kv.profile', params)]);
        } finally {
            this.#running = null;
            host.kill();
        }
    }
}
