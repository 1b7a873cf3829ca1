// The engine as the UI sees it: state pushed by the backend, plus the actions on it.
import { create } from 'zustand';
import type { EngineState } from '../../../common/contract.ts';
import { errorMessage } from '../../../common/errors.ts';
import type { LoadOverrides } from '../../../common/settings.ts';
import { bridge, rpc, type ConnectionState } from '../bridge.ts';

interface EngineStore {
    engine: EngineState | null;
    connection: ConnectionState;
    loadProgress: number | null;
    /** The last action's failure, in words for the user. */
    actionError: string | null;
    /** Load a model with the saved settings (the backend builds the load), and one-off overrides; false when it failed. */
    loadModel: (path: string, overrides?: LoadOverrides) => Promise<boolean>;
    pickModelFile: () => Promise<string | null>;
    restart: () => Promise<void>;
    dismissError: () => void;
}

export const useEngineStore = create<EngineStore>((set) => ({
    engine: null,
    connection: 'connecting',
    loadProgress: null,
    actionError: null,

    async loadModel(path, overrides) {
        set({ actionError: null, loadProgress: 0 });
        try {
            await rpc.request('model.load', overrides == null ? { path } : { path, overrides });
            return true;
        } catch (error) {
            set({ actionError: errorMessage(error) });
            return false;
        } finally {
            set({ loadProgress: null });
        }
    },

    async pickModelFile() {
        try {
            return (await rpc.request('model.pickFile', {})).path;
        } catch (error) {
            set({ actionError: errorMessage(error) });
            return null;
        }
    },

    async restart() {
        set({ actionError: null });
        try {
            await rpc.request('engine.restart', {});
        } catch (error) {
            set({ actionError: errorMessage(error) });
        }
    },

    dismissError: () => set({ actionError: null }),
}));

rpc.on('engine.state', (engine) => useEngineStore.setState((state) => ({
    engine,
    // A load may have been started elsewhere (e.g. `serve --model`): progress ends with it.
    loadProgress: engine.status === 'loading' ? state.loadProgress : null,
})));
rpc.on('model.loadProgress', ({ progress }) => useEngineStore.setState({ loadProgress: progress }));
bridge.onConnection((connection) => {
    useEngineStore.setState({ connection });
    if (connection === 'open') {
        rpc.request('engine.getState', {}).then((engine) => useEngineStore.setState({ engine }), () => {});
    }
});
