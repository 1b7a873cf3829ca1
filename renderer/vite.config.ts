// One renderer build for both windows: Forge builds it for Electron (`npm start`), and
// `--mode web` builds it for web mode into dist/renderer.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const rendererDir = path.dirname(fileURLToPath(import.meta.url));
const projectRoot = path.dirname(rendererDir);

/** A strict CSP in the page itself; the dev server needs inline styles and its HMR socket. */
function contentSecurityPolicy(dev: boolean): Plugin {
    const policy = [
        "default-src 'self'",
        "script-src 'self'",
        dev ? "style-src 'self' 'unsafe-inline'" : "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        dev ? "connect-src 'self' ws://localhost:*" : "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ].join('; ');
    return {
        name: 'headroom-csp',
        transformIndexHtml: (html) => html.replace('<!--CSP-->', `<meta http-equiv="Content-Security-Policy" content="${policy}" />`),
    };
}

export default defineConfig(({ mode, command }) => ({
    root: rendererDir,
    base: './',
    plugins: [contentSecurityPolicy(command === 'serve')],
    build: {
        outDir: mode === 'web' ? path.join(projectRoot, 'dist', 'renderer') : path.join(projectRoot, '.vite', 'renderer', 'main_window'),
        emptyOutDir: true,
        chunkSizeWarningLimit: 1024,
    },
}));
