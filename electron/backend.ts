// What the UI talks to, whichever window it lives in: the Electron main process and the
// web-mode server both serve these handlers and fan these events out.
import type { EventEnvelope } from './ipc/contract.ts';
import type { Handlers } from './ipc/rpc.ts';
import { HeadroomError } from './ipc/rpc.ts';
import { EngineSupervisor, type SpawnHost } from './engine/supervisor.ts';

export interface BackendOptions {
    spawnHost: SpawnHost;
    /** The platform's file picker; absent where there is none (web mode). */
    pickModelFile?: () => Promise<string | null>;
}

export interface Backend {
    readonly handlers: Handlers;
    readonly supervisor: EngineSupervisor;
    subscribe(listener: (event: EventEnvelope) => void): () => void;
    dispose(): void;
}

export function createBackend({ spawnHost, pickModelFile }: BackendOptions): Backend {
    const listeners = new Set<(event: EventEnvelope) => void>();
    const supervisor = new EngineSupervisor(spawnHost, (event) => {
        for (const listener of listeners) listener(event);
    });
    void supervisor.start().catch(() => {}); // failures surface as engine state
    const handlers: Handlers = {
        ...supervisor.handlers(),
        'model.pickFile': async () => {
            if (pickModelFile == null) {
                throw new HeadroomError('NOT_AVAILABLE', 'There is no file picker in the browser: type the model file\'s path on the machine running Headroom.');
            }
            return { path: await pickModelFile() };
        },
    };
    return {
        handlers,
        supervisor,
        subscribe(listener) {
            listeners.add(listener);
            return () => listeners.delete(listener);
        },
        dispose: () => supervisor.dispose(),
    };
}
