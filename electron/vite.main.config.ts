// Forge builds the main process with this (merged over its own defaults: CJS, .vite/build).
import { defineConfig } from 'vite';

export default defineConfig({
    build: {
        rollupOptions: { external: ['node-llama-cpp', 'node:sqlite'] },
    },
});
