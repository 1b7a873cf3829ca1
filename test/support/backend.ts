// A backend as a window sees it: every request goes through the contract's dispatch, and the
// events it fans out are recorded.
import type { EventEnvelope } from '../../common/contract.ts';
import { createBackend, type BackendOptions } from '../../backend/backend.ts';
import { spawnNodeHost } from '../../backend/host/nodeHost.ts';

export function openBackend(dataDir: string, options: Partial<BackendOptions> = {}) {
    const backend = createBackend({ spawnHost: spawnNodeHost, dataDir, ...options });
    const events: EventEnvelope[] = [];
    backend.subscribe((event) => events.push(event));
    return { backend, events, call: backend.request };
}
