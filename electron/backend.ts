// What the UI talks to, whichever window it lives in: the Electron main process and the
// web-mode server both serve these handlers and fan these events out.
import type { EventEnvelope } from './ipc/contract.ts';
import type { Handlers } from './ipc/rpc.ts';
import { HeadroomError } from './ipc/rpc.ts';
import { EngineSupervisor, type SpawnHost } from './engine/supervisor.ts';
import { eventEnvelope } from './ipc/rpc.ts';
import { SettingsService } from './settings/service.ts';
import type { KeyValueStore } from './settings/store.ts';

export interface BackendOptions {
    spawnHost: SpawnHost;
    /** The platform's file picker; absent where there is none (web mode). */
    pickModelFile?: () => Promise<string | null>;
    /** Where settings persist (a JSON file until the SQLite settings table is in main). */
    settingsStore: KeyValueStore;
}

export interface Backend {
    readonly handlers: Handlers;
    readonly supervisor: EngineSupervisor;
    readonly settings: SettingsService;
    subscribe(listener: (event: EventEnvelope) => void): () => void;
    dispose(): void;
}

export function createBackend({ spawnHost, pickModelFile, settingsStore }: BackendOptions): Backend {
    const listeners = new Set<(event: EventEnvelope) => void>();
    const broadcast = (event: EventEnvelope) => {
        for (const listener of listeners) listener(event);
    };
    const settings = new SettingsService(settingsStore);
    let lastStatus = '';
    const supervisor = new EngineSupervisor(spawnHost, (event) => {
        broadcast(event);
        if (event.name !== 'engine.state') return;
        // A model just loaded with the current settings, or none is loaded: nothing awaits a reload.
        const { status, model } = event.payload as { status: string; model: unknown };
        const justLoaded = status === 'ready' && lastStatus === 'loading';
        lastStatus = status;
        if (justLoaded || model == null) {
            settings.markLoaded(model != null);
            broadcast(eventEnvelope('settings.changed', settings.state));
        }
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
        'settings.get': async () => settings.state,
        'settings.update': async (patch) => {
            const state = settings.update(patch);
            broadcast(eventEnvelope('settings.changed', state));
            return state;
        },
    };
    return {
        handlers,
        supervisor,
        settings,
        subscribe(listener) {
            listeners.add(listener);
            return () => listeners.delete(listener);
        },
        dispose: () => supervisor.dispose(),
    };
}
