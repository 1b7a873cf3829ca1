// Builds test/components (the real UI components + a tiny harness) with vite and serves it
// on loopback, so component tests render in real Chromium with recorded engine data.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import type { Scene } from '../components/scene.ts';
import { launchChromium } from './browser.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const outDir = path.join(root, 'test-results', 'harness');
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };

export interface Harness {
    open: (scene: Scene, viewport?: { width: number; height: number }) => Promise<Page>;
    close: () => Promise<void>;
}

export async function startHarness(): Promise<Harness> {
    await build({
        configFile: false, root: path.join(root, 'test', 'components'), base: './', logLevel: 'warn',
        build: { outDir, emptyOutDir: true, chunkSizeWarningLimit: 2048 },
    });
    const serve = async (request: http.IncomingMessage, response: http.ServerResponse) => {
        const relative = new URL(request.url ?? '/', 'http://x').pathname;
        const file = path.join(outDir, relative === '/' ? 'index.html' : relative);
        if (!file.startsWith(outDir)) return void response.writeHead(404).end();
        try {
            const body = await readFile(file);
            response.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(body);
        } catch {
            response.writeHead(404).end();
        }
    };
    const server = http.createServer((request, response) => void serve(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const browser: Browser = await launchChromium();
    return {
        async open(scene, viewport = { width: 362, height: 900 }) {
            const page = await browser.newPage({ viewport });
            const errors: string[] = [];
            page.on('pageerror', (error) => errors.push(error.message));
            await page.addInitScript((s) => {
                window.scene = s;
            }, scene);
            await page.goto(url);
            await page.locator('#root > *').first().waitFor();
            if (errors.length > 0) throw new Error(`the component threw: ${errors.join('; ')}`);
            return page;
        },
        async close() {
            await browser.close();
            await new Promise((resolve) => server.close(resolve));
        },
    };
}
