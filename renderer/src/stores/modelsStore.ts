// The Models view: the models on this machine, the catalog with its verdicts, and downloads
// (their progress arrives as events). Opening a model loads it where it is.
import { create } from 'zustand';
import { errorMessage } from '../../../common/errors.ts';
import { isFinished, type CatalogView, type DownloadState, type LocalModels } from '../../../common/models.ts';
import { bridge, rpc } from '../bridge.ts';
import { useEngineStore } from './engineStore.ts';

interface Loadable<T> {
    data: T | null;
    loading: boolean;
    error: string | null;
}

interface ModelsStore {
    /** The Models view is showing instead of the chat. */
    open: boolean;
    local: Loadable<LocalModels>;
    catalog: Loadable<CatalogView>;
    /** Every download this session knows, oldest first; dismissed ones are gone. */
    downloads: DownloadState[];
    /** Why the last download could not start (a bad address), shown under the box. */
    downloadError: string | null;
    show: (open: boolean) => void;
    refresh: () => Promise<void>;
    /** Starts a download; false when it was refused. */
    download: (source: string, options?: { sha256?: string; open?: boolean }) => Promise<boolean>;
    cancel: (id: string) => Promise<void>;
    dismiss: (id: string) => void;
    /** Loads a model in place and goes back to the chat. */
    openModel: (path: string) => Promise<void>;
}

const idle = { data: null, loading: false, error: null };

function upsert(downloads: DownloadState[], state: DownloadState): DownloadState[] {
    const index = downloads.findIndex((d) => d.id === state.id);
    if (index < 0) return [...downloads, state];
    return downloads.map((d, i) => (i === index ? state : d));
}

export const useModelsStore = create<ModelsStore>((set, get) => {
    /** Asks the backend again for a list, keeping the one shown meanwhile. */
    const load = async <K extends 'local' | 'catalog'>(key: K, request: () => Promise<NonNullable<ModelsStore[K]['data']>>) => {
        set((s) => ({ [key]: { ...s[key], loading: true } }));
        try {
            const data = await request();
            set({ [key]: { data, loading: false, error: null } } as Pick<ModelsStore, K>);
        } catch (error) {
            set((s) => ({ [key]: { ...s[key], loading: false, error: errorMessage(error) } }));
        }
    };
    return {
        open: false,
        local: idle,
        catalog: idle,
        downloads: [],
        downloadError: null,

        show(open) {
            set({ open });
            if (open) void get().refresh();
        },

        async refresh() {
            await Promise.all([load('local', () => rpc.request('models.list', {})), load('catalog', () => rpc.request('models.catalog', {}))]);
        },

        async download(source, options = {}) {
            set({ downloadError: null });
            try {
                const state = await rpc.request('models.download', { source, ...options });
                // A retry takes the place of the attempt that ended.
                set((s) => ({ downloads: upsert(s.downloads.filter((d) => d.source !== source || !isFinished(d.status)), state) }));
                return true;
            } catch (error) {
                set({ downloadError: errorMessage(error) });
                return false;
            }
        },

        async cancel(id) {
            await rpc.request('models.cancelDownload', { id }).catch(() => {});
        },

        dismiss: (id) => set((s) => ({ downloads: s.downloads.filter((d) => d.id !== id) })),

        async openModel(path) {
            set({ open: false });
            await useEngineStore.getState().loadModel(path);
        },
    };
});

rpc.on('models.download', (state) => useModelsStore.setState((s) => ({ downloads: upsert(s.downloads, state) })));
rpc.on('models.changed', () => {
    if (useModelsStore.getState().open) void useModelsStore.getState().refresh();
});
bridge.onConnection((connection) => {
    if (connection !== 'open') return;
    rpc.request('models.downloads', {}).then((downloads) => useModelsStore.setState({ downloads }), () => {});
});
