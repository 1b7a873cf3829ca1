// Renders one real UI component with the props a test gives it (recorded engine data), in
// real Chromium. Callbacks are test functions exposed by Playwright (window.harness*).
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import type { MemoryStats } from '../../common/contract.ts';
import type { KvUsage } from '../../common/kv/usage.ts';
import type { FitResult, MemoryPlan } from '../../common/plan.ts';
import type { SettingKey, SettingsState } from '../../common/settings.ts';
import { HeadMap } from '../../renderer/src/components/memory/HeadMap.tsx';
import { MemoryGauges } from '../../renderer/src/components/memory/MemoryGauges.tsx';
import { MemoryPlanner } from '../../renderer/src/components/memory/MemoryPlanner.tsx';
import { SettingsPanel } from '../../renderer/src/components/SettingsPanel.tsx';
import '../../renderer/src/styles.css';

type Scene =
    | { component: 'gauges'; stats: MemoryStats[]; ramTotalBytes?: number }
    | { component: 'headMap'; kv: KvUsage }
    | { component: 'planner'; plan: MemoryPlan | null; fit?: FitResult | null; loaded?: MemoryStats['loaded']; error?: string | null }
    | { component: 'settings'; state: SettingsState; modelLoaded: boolean; kvCacheTypes?: Array<'f16' | 'q8_0'> };

declare global {
    interface Window {
        scene: Scene;
        /** Show the next recorded snapshot, as the engine would push it. */
        pushNext?: () => boolean;
        harnessUpdateSettings?: (patch: Record<string, unknown>) => Promise<{ ok: true; state: SettingsState } | { ok: false; message: string }>;
        harnessEvents: string[];
    }
}

window.harnessEvents = [];

function Gauges({ scene }: { scene: Extract<Scene, { component: 'gauges' }> }) {
    const [index, setIndex] = useState(0);
    window.pushNext = () => {
        if (index + 1 >= scene.stats.length) return false;
        setIndex(index + 1);
        return true;
    };
    return <MemoryGauges stats={scene.stats[index] ?? null} ramTotalBytes={scene.ramTotalBytes} />;
}

function Settings({ scene }: { scene: Extract<Scene, { component: 'settings' }> }) {
    const [state, setState] = useState(scene.state);
    const [errors, setErrors] = useState<Partial<Record<SettingKey, string>>>({});
    const onChange = async (patch: Record<string, unknown>) => {
        const key = Object.keys(patch)[0] as SettingKey;
        const result = await window.harnessUpdateSettings!(patch);
        if (result.ok) {
            setState(result.state);
            setErrors({});
        } else {
            setErrors({ [key]: result.message });
        }
    };
    return (
        <SettingsPanel
            state={state} errors={errors} modelLoaded={scene.modelLoaded} kvCacheTypes={scene.kvCacheTypes}
            onChange={(patch) => void onChange(patch)} onReload={() => window.harnessEvents.push('reload')}
        />
    );
}

function Harness() {
    const scene = window.scene;
    switch (scene.component) {
        case 'gauges': return <Gauges scene={scene} />;
        case 'headMap': return <HeadMap kv={scene.kv} />;
        case 'planner': return (
            <MemoryPlanner
                plan={scene.plan} planning={false} error={scene.error ?? null} fit={scene.fit ?? null} loaded={scene.loaded ?? null}
                onFit={(goal) => window.harnessEvents.push(`fit:${goal}`)} onApplyFit={() => window.harnessEvents.push('applyFit')}
            />
        );
        case 'settings': return <Settings scene={scene} />;
    }
}

createRoot(document.getElementById('root')!).render(<StrictMode><Harness /></StrictMode>);
