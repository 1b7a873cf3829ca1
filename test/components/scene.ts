// What a component test asks the harness to render (recorded engine data and props), and what
// the harness exposes on window for the test to drive it.
import type { MemoryStats } from '../../common/contract.ts';
import type { KvCacheType } from '../../common/modelShape.ts';
import type { KvUsage } from '../../common/kv/usage.ts';
import type { FitResult, MemoryPlan } from '../../common/plan.ts';
import type { SettingsState } from '../../common/settings.ts';

export type Scene =
    | { component: 'gauges'; stats: MemoryStats[]; ramTotalBytes?: number }
    | { component: 'headMap'; kv: KvUsage }
    | { component: 'planner'; plan: MemoryPlan | null; fit?: FitResult | null; loaded?: MemoryStats['loaded']; error?: string | null }
    | { component: 'settings'; state: SettingsState; modelLoaded: boolean; kvCacheTypes?: KvCacheType[] }
    | { component: 'markdown'; text: string };

declare global {
    interface Window {
        scene: Scene;
        /** Show the next recorded snapshot, as the engine would push it. */
        pushNext?: () => boolean;
        harnessUpdateSettings?: (patch: Record<string, unknown>) => Promise<{ ok: true; state: SettingsState } | { ok: false; message: string }>;
        harnessEvents: string[];
    }
}
