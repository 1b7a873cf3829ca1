// Profiling a model's KV heads from the app. It runs in an engine host of its own, started for
// the job and stopped after it: the profiler loads the model many times with its own contexts,
// which must not disturb the chat engine's model, logs or memory, and a crash while profiling
// must not take the chat engine down.
import type { EventEnvelope, Params, Result } from '../../common/contract.ts';
import { eventEnvelope, HeadroomError, RpcClient } from '../../common/rpc.ts';
import { describeExit, type SpawnHost } from './supervisor.ts';

const HOST_START_TIMEOUT_MS = 30_000;

export class HeadProfiling {
    #spawnHost: SpawnHost;
    #emit: (envelope: EventEnvelope) => void;
    #running: string | null = null;

    constructor(spawnHost: SpawnHost, emit: (envelope: EventEnvelope) => void) {
        this.#spawnHost = spawnHost;
        this.#emit = emit;
    }

    async run(params: Params<'kv.profile'>): Promise<Result<'kv.profile'>> {
        if (this.#running != null) throw new HeadroomError('BUSY', `Already profiling ${this.#running}; wait for it to finish.`);
        this.#running = params.path;
        const host = this.#spawnHost();
        const client = new RpcClient((envelope) => host.send(envelope));
        host.onMessage((message) => client.receive(message));
        client.on('kv.profileProgress', (progress) => this.#emit(eventEnvelope('kv.profileProgress', progress)));
        const exited = new Promise<never>((_, reject) => host.onExit((exit) => {
            const error = describeExit(exit);
            reject(new HeadroomError(error.code, `Profiling stopped: ${error.message}`));
        }));
        exited.catch(() => {});
        try {
            await Promise.race([exited, new Promise<void>((resolve, reject) => {
                const timer = setTimeout(() => reject(new HeadroomError('ENGINE_UNAVAILABLE', 'The profiler did not start in time.')), HOST_START_TIMEOUT_MS);
                client.on('host.ready', () => {
                    clearTimeout(timer);
                    resolve();
                });
            })]);
            return await Promise.race([exited, client.request('kv.profile', params)]);
        } finally {
            this.#running = null;
            host.kill();
        }
    }
}
