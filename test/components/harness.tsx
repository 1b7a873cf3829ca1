// Renders one real UI component with the props a test gives it (recorded engine data), in
// real Chromium. Callbacks are test functions exposed by Playwright (window.harness*).
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import type { SettingKey } from '../../common/settings.ts';
import { MarkdownText } from '../../renderer/src/components/Markdown.tsx';
import { HeadMap } from '../../renderer/src/components/memory/HeadMap.tsx';
import { MemoryGauges } from '../../renderer/src/components/memory/MemoryGauges.tsx';
import { MemoryPlanner } from '../../renderer/src/components/memory/MemoryPlanner.tsx';
import { SettingsPanel } from '../../renderer/src/components/SettingsPanel.tsx';
import '../../renderer/src/styles.css';
import type { Scene } from './scene.ts';

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
        const update = window.harnessUpdateSettings;
        if (update == null) throw new Error('the test exposes no harnessUpdateSettings');
        const result = await update(patch);
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
        case 'markdown': return <div className="message message-assistant"><div className="message-text"><MarkdownText text={scene.text} /></div></div>;
    }
}

const root = document.getElementById('root');
if (root == null) throw new Error('index.html has no #root element.');
createRoot(root).render(<StrictMode><Harness /></StrictMode>);
