// Profiling the loaded model's heads: one run at a time, its progress pushed by the backend.
import { create } from 'zustand';
import type { ProfileResult } from '../../../common/contract.ts';
import { errorMessage } from '../../../common/errors.ts';
import { rpc } from '../bridge.ts';
import { useMemoryStore } from './memoryStore.ts';

interface ProfileStore {
    /** The model being profiled, or null. */
    running: string | null;
    progress: { done: number; total: number } | null;
    result: (ProfileResult & { path: string }) | null;
    error: string | null;
    profile: (path: string, force?: boolean) => Promise<void>;
}

export const useProfileStore = create<ProfileStore>((set, get) => ({
    running: null,
    progress: null,
    result: null,
    error: null,

    async profile(path, force = false) {
        if (get().running != null) return;
        set({ running: path, progress: null, result: null, error: null });
        try {
            const result = await rpc.request('kv.profile', { path, force });
            set({ result: { ...result, path } });
            useMemoryStore.getState().replan(); // `auto` plans with the new profile
        } catch (error) {
            set({ error: errorMessage(error) });
        } finally {
            set({ running: null, progress: null });
        }
    },
}));

rpc.on('kv.profileProgress', ({ path, done, total }) => {
    if (useProfileStore.getState().running === path) useProfileStore.setState({ progress: { done, total } });
});
