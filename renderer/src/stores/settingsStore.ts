// Settings as the backend holds them; a refused change leaves them as they were and says why.
import { create } from 'zustand';
import { errorMessage, HeadroomError } from '../../../common/errors.ts';
import { isSettingKey, type SettingKey, type SettingsState } from '../../../common/settings.ts';
import { bridge, rpc } from '../bridge.ts';

interface SettingsStore {
    state: SettingsState | null;
    errors: Partial<Record<SettingKey, string>>;
    update: (patch: Record<string, unknown>) => Promise<boolean>;
}

export const useSettingsStore = create<SettingsStore>((set, get) => ({
    state: null,
    errors: {},

    async update(patch) {
        const keys = Object.keys(patch) as SettingKey[];
        try {
            const state = await rpc.request('settings.update', patch);
            const errors = { ...get().errors };
            for (const key of keys) delete errors[key];
            set({ state, errors });
            return true;
        } catch (error) {
            // Under the setting the refusal blames, else under the first one changed.
            const field = error instanceof HeadroomError ? error.field : undefined;
            const blamed = isSettingKey(field) ? field : keys[0];
            if (blamed != null) set({ errors: { ...get().errors, [blamed]: errorMessage(error) } });
            return false;
        }
    },
}));

function applyAppearance(state: SettingsState | null): void {
    const appearance = state?.settings.appearance ?? 'system';
    if (appearance === 'system') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = appearance;
}

useSettingsStore.subscribe((store, previous) => {
    if (store.state !== previous.state) applyAppearance(store.state);
});
rpc.on('settings.changed', (state) => useSettingsStore.setState({ state }));
bridge.onConnection((connection) => {
    if (connection === 'open') rpc.request('settings.get', {}).then((state) => useSettingsStore.setState({ state }), () => {});
});
