// What the long jobs' stores (profiling, Test recall) share: the backend runs one job at a time
// in an engine host of its own and cancels it by ending that host.
import { errorMessage, HeadroomError } from '../../../common/errors.ts';
import { rpc } from '../bridge.ts';

/** A job that did not finish, as its store keeps it: cancelled by the user, or an error to show. */
export function jobFailure(error: unknown): { cancelled: true } | { error: string } {
    return error instanceof HeadroomError && error.code === 'CANCELLED' ? { cancelled: true } : { error: errorMessage(error) };
}

/** Ends the running job; its request then fails as cancelled. */
export async function cancelJob(): Promise<void> {
    await rpc.request('kv.cancel', {}).catch(() => {});
}
