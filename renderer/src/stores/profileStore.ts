// Profiling the loaded model's heads: the time it would take here, one run at a time with its
// progress pushed by the backend, and a cancel that ends it.
import { create } from 'zustand';
import type { EventPayload, ProfileEstimate, ProfileResult } from '../../../common/contract.ts';
import { rpc } from '../bridge.ts';
import { cancelJob, jobFailure } from './hostJobs.ts';
import { useMemoryStore } from './memoryStore.ts';

type Progress = Omit<EventPayload<'kv.profileProgress'>, 'path'>;

interface ProfileStore {
    /** The model being profiled, or null. */
    running: string | null;
    progress: Progress | null;
    result: (ProfileResult & { path: string }) | null;
    error: string | null;
    /** The last run was cancelled (said in words, not as an error). */
    cancelled: boolean;
    /** What profiling the loaded model would take, once measured. */
    estimate: { path: string; contextSize: number; value: ProfileEstimate | null } | null;
    profile: (path: string, options: { force?: boolean; contextSize?: number }) => Promise<void>;
    cancel: () => Promise<void>;
    estimateFor: (path: string, contextSize: number) => Promise<void>;
}

export const useProfileStore = create<ProfileStore>((set, get) => ({
    running: null,
    progress: null,
    result: null,
    error: null,
    cancelled: false,
    estimate: null,

    async profile(path, { force = false, contextSize }) {
        if (get().running != null) return;
        set({ running: path, progress: null, result: null, error: null, cancelled: false });
        try {
            const result = await rpc.request('kv.profile', { path, force, ...(contextSize != null ? { contextSize } : {}) });
            set({ result: { ...result, path } });
            useMemoryStore.getState().replan(); // `auto` plans with the new profile
        } catch (error) {
            set(jobFailure(error));
        } finally {
            set({ running: null, progress: null });
        }
    },

    cancel: cancelJob,

    async estimateFor(path, contextSize) {
        const known = get().estimate;
        if (known?.path === path && known.contextSize === contextSize) return;
        set({ estimate: { path, contextSize, value: null } });
        try {
            const value = await rpc.request('kv.profileEstimate', { path, contextSize });
            if (get().estimate?.path === path) set({ estimate: { path, contextSize, value } });
        } catch {
            // No estimate (the engine is busy, or another model loaded): the offer simply says none.
        }
    },
}));

rpc.on('kv.profileProgress', ({ path, ...progress }) => {
    if (useProfileStore.getState().running === path) useProfileStore.setState({ progress });
});
