// Live memory pushed by the engine (never polled), and the planner's predictions, which
// are asked for again whenever the model or a setting changes.
import { create } from 'zustand';
import type { MemoryStats } from '../../../common/contract.ts';
import { errorMessage } from '../../../common/errors.ts';
import type { FitResult, MemoryPlan } from '../../../common/plan.ts';
import { kvSettingsOf } from '../../../common/settings.ts';
import { bridge, rpc } from '../bridge.ts';
import { useEngineStore } from './engineStore.ts';
import { useSettingsStore } from './settingsStore.ts';

interface MemoryStore {
    stats: MemoryStats | null;
    /** A model path typed but not loaded yet: planned before loading. */
    candidatePath: string | null;
    plan: MemoryPlan | null;
    planning: boolean;
    planError: string | null;
    fit: FitResult | null;
    setCandidatePath: (path: string | null) => void;
    replan: () => void;
    fitTo: (goal: 'context' | 'compression') => Promise<void>;
    applyFit: () => Promise<void>;
}

const PLAN_DEBOUNCE_MS = 250;
let planTimer: ReturnType<typeof setTimeout> | undefined;
let planSeq = 0;

function plannedPath(): string | null {
    return useMemoryStore.getState().candidatePath ?? useEngineStore.getState().engine?.model?.path ?? null;
}

/** The model to plan; the backend plans it as a load of it would be built (the saved settings, the automatic context). */
function planInput(): { path: string } | null {
    const path = plannedPath();
    if (path == null || useSettingsStore.getState().state == null) return null;
    return { path };
}

export const useMemoryStore = create<MemoryStore>((set, get) => ({
    stats: null,
    candidatePath: null,
    plan: null,
    planning: false,
    planError: null,
    fit: null,

    setCandidatePath(path) {
        const next = path == null || path.trim() === '' ? null : path.trim();
        if (next === get().candidatePath) return;
        set({ candidatePath: next, fit: null });
        get().replan();
    },

    replan() {
        clearTimeout(planTimer);
        planTimer = setTimeout(async () => {
            const input = planInput();
            if (input == null) return set({ plan: null, planError: null });
            const seq = ++planSeq;
            set({ planning: true });
            try {
                const plan = await rpc.request('memory.plan', input);
                if (seq === planSeq) set({ plan, planError: null });
            } catch (error) {
                if (seq === planSeq) set({ plan: null, planError: errorMessage(error) });
            } finally {
                if (seq === planSeq) set({ planning: false });
            }
        }, PLAN_DEBOUNCE_MS);
    },

    async fitTo(goal) {
        const input = planInput();
        if (input == null) return;
        set({ planning: true, fit: null });
        try {
            set({ fit: await rpc.request('memory.fit', { ...input, goal }) });
        } catch (error) {
            set({ planError: errorMessage(error) });
        } finally {
            set({ planning: false });
        }
    },

    async applyFit() {
        const fitted = get().fit?.request;
        if (fitted == null) return;
        if (await useSettingsStore.getState().update({ contextSize: fitted.contextSize, ...kvSettingsOf(fitted.kv) })) set({ fit: null });
    },
}));

rpc.on('memory.stats', (stats) => {
    // Keep the previous KV object when it did not change, so the head map need not redraw.
    const previous = useMemoryStore.getState().stats?.kv;
    const kv = previous != null && stats.kv != null && sameKv(previous, stats.kv) ? previous : stats.kv;
    useMemoryStore.setState({ stats: { ...stats, kv } });
});

function sameKv(a: NonNullable<MemoryStats['kv']>, b: NonNullable<MemoryStats['kv']>): boolean {
    return a.source === b.source && a.gpu === b.gpu && a.cpu === b.cpu && a.full === b.full && a.streaming === b.streaming
        && JSON.stringify(a.heads) === JSON.stringify(b.heads);
}
useSettingsStore.subscribe((store, previous) => {
    if (store.state?.settings !== previous.state?.settings) useMemoryStore.getState().replan();
});
useEngineStore.subscribe((store, previous) => {
    if (store.engine?.model?.path !== previous.engine?.model?.path) useMemoryStore.getState().replan();
});
bridge.onConnection((connection) => {
    if (connection !== 'open') return;
    rpc.request('memory.stats', {}).then((stats) => useMemoryStore.setState({ stats }), () => {});
});
