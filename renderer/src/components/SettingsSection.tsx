import { useEngineStore } from '../stores/engineStore.ts';
import { useMemoryStore } from '../stores/memoryStore.ts';
import { useSettingsStore } from '../stores/settingsStore.ts';
import { DataLocationsPanel } from './DataLocationsPanel.tsx';
import { SettingsPanel } from './SettingsPanel.tsx';

export function SettingsSection() {
    const state = useSettingsStore((s) => s.state);
    const errors = useSettingsStore((s) => s.errors);
    const update = useSettingsStore((s) => s.update);
    const model = useEngineStore((s) => s.engine?.model ?? null);
    const loadModel = useEngineStore((s) => s.loadModel);
    const kvCacheTypes = useMemoryStore((s) => s.plan?.model.kvCacheTypes);
    const offloadCost = useMemoryStore((s) => s.plan?.offload?.cost?.summary ?? null);
    return (
        <section className="panel" aria-labelledby="settings-heading">
            <h2 id="settings-heading" className="panel-title">Settings</h2>
            <SettingsPanel
                state={state} errors={errors} kvCacheTypes={kvCacheTypes} modelLoaded={model != null} offloadCost={offloadCost}
                onChange={(patch) => void update(patch)}
                onReload={() => model != null && void loadModel(model.path)}
            />
            <DataLocationsPanel />
        </section>
    );
}
