// Test recall: a short needle-in-a-haystack on the loaded model, with the full cache and with its
// head plan, run by the backend in an engine host of its own; progress pushed, cancel on request.
import { create } from 'zustand';
import type { EventPayload, RecallResult } from '../../../common/contract.ts';
import { rpc } from '../bridge.ts';
import { cancelJob, jobFailure } from './hostJobs.ts';

interface RecallStore {
    running: boolean;
    progress: EventPayload<'kv.recallProgress'> | null;
    /** The last result, for the model it was run on. */
    result: (RecallResult & { path: string }) | null;
    error: string | null;
    cancelled: boolean;
    run: (path: string) => Promise<void>;
    cancel: () => Promise<void>;
}

export const useRecallStore = create<RecallStore>((set, get) => ({
    running: false,
    progress: null,
    result: null,
    error: null,
    cancelled: false,

    async run(path) {
        if (get().running) return;
        set({ running: true, progress: null, error: null, cancelled: false });
        try {
            set({ result: { ...(await rpc.request('kv.testRecall', {})), path } });
        } catch (error) {
            set(jobFailure(error));
        } finally {
            set({ running: false, progress: null });
        }
    },

    cancel: cancelJob,
}));

rpc.on('kv.recallProgress', (progress) => {
    if (useRecallStore.getState().running) useRecallStore.setState({ progress });
});
