// The engine host is an ES module (node-llama-cpp is ESM-only) loaded by utilityProcess.
// node-llama-cpp stays external: it loads native binaries from its own package folder.
import { defineConfig } from 'vite';

export default defineConfig({
    build: {
        lib: {
            entry: 'engine/host.ts',
            formats: ['es'],
            fileName: () => 'engineHost.js',
        },
        rollupOptions: { external: ['node-llama-cpp'] },
    },
});
