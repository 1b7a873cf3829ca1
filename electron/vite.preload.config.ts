// Preload scripts run sandboxed, so Forge bundles them to one CommonJS file.
import { defineConfig } from 'vite';

export default defineConfig({});
