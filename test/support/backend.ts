// A backend as a window sees it: every request goes through the contract's dispatch, and the
// events it fans out are recorded.
import { createBackend } from '../../backend/backend.ts';
import { spawnNodeHost } from '../../backend/host/nodeHost.ts';
import type { EventEnvelope, Method, Params, Result } from '../../common/contract.ts';
import { dispatch, HeadroomError } from '../../common/rpc.ts';

export function openBackend(dataDir: string) {
    const backend = createBackend({ spawnHost: spawnNodeHost, dataDir });
    const events: EventEnvelope[] = [];
    backend.subscribe((event) => events.push(event));
    let id = 0;
    const call = async <M extends Method>(method: M, params: Params<M>): Promise<Result<M>> => {
        const response = await dispatch(backend.handlers, { type: 'request', id: ++id, method, params });
        if (!response.ok) throw new HeadroomError(response.error.code, response.error.message);
        return response.result as Result<M>;
    };
    return { backend, events, call };
}
