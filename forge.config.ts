// Electron Forge drives `npm start` (Vite dev server + main/preload/engine-host builds).
// Installers are built by electron-builder (see "build" in package.json), which also flips the
// Electron fuses ("electronFuses": no ELECTRON_RUN_AS_NODE, NODE_OPTIONS or --inspect).
import type { ForgeConfig } from '@electron-forge/shared-types';
import { VitePlugin } from '@electron-forge/plugin-vite';

const config: ForgeConfig = {
    packagerConfig: {
        name: 'Headroom',
        icon: 'assets/icon',
        // node-llama-cpp loads native binaries by path: they cannot live inside the asar.
        asar: { unpack: '**/{node_modules/node-llama-cpp/bins,node_modules/node-llama-cpp/llama/localBuilds,node_modules/@node-llama-cpp}/**' },
    },
    plugins: [
        new VitePlugin({
            build: [
                { entry: 'electron/main.ts', config: 'electron/vite.main.config.ts', target: 'main' },
                { entry: 'engine/host.ts', config: 'electron/vite.host.config.ts', target: 'main' },
                { entry: 'backend/documents/extractWorker.ts', config: 'electron/vite.worker.config.ts', target: 'main' },
                { entry: 'electron/preload.ts', config: 'electron/vite.preload.config.ts', target: 'preload' },
            ],
            renderer: [{ name: 'main_window', config: 'renderer/vite.config.ts' }],
        }),
    ],
};

export default config;
