// Web mode: serves the built renderer on loopback and bridges the IPC contract over a
// WebSocket. Every page, asset and socket needs the per-launch token; the page gets it in
// its URL and then holds it in a strict same-site cookie so its assets load too.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Backend } from '../backend/backend.ts';
import { dispatch, eventEnvelope } from '../common/rpc.ts';

export interface WebServerOptions {
    backend: Backend;
    staticDir: string;
    port: number;
    host?: string;
}

export interface WebServer {
    readonly url: string;
    readonly port: number;
    readonly token: string;
    close: () => Promise<void>;
}

const COOKIE = 'headroom_token';
// A whole document (up to 64 MB) travels base64-encoded in one documents.add request.
const MAX_MESSAGE_BYTES = 96 * 1024 * 1024;

const CONTENT_TYPES: Record<string, string> = {
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
    '.svg': 'image/svg+xml',
    '.png': 'image/png',
    '.ico': 'image/x-icon',
    '.woff2': 'font/woff2',
    '.json': 'application/json',
    '.wasm': 'application/wasm',
    '.mjs': 'text/javascript; charset=utf-8',
};

function sameSecret(given: string | null | undefined, token: string): boolean {
    if (given == null) return false;
    const a = Buffer.from(given);
    const b = Buffer.from(token);
    return a.length === b.length && timingSafeEqual(a, b);
}

function cookieToken(header: string | undefined): string | null {
    for (const part of (header ?? '').split(';')) {
        const [name, ...value] = part.trim().split('=');
        if (name === COOKIE) return value.join('=');
    }
    return null;
}

export async function startWebServer({ backend, staticDir, port, host = '127.0.0.1' }: WebServerOptions): Promise<WebServer> {
    const token = randomBytes(24).toString('base64url');
    let origin = '';
    // Only our own host names: a page on another site that rebinds DNS to 127.0.0.1 is refused.
    const allowedHosts = () => [origin.slice('http://'.length), `localhost:${actualPort}`];
    let actualPort = port;

    const securityHeaders = {
        'Content-Security-Policy': `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        'Cross-Origin-Opener-Policy': 'same-origin',
    };

    function authorized(request: http.IncomingMessage, url: URL): boolean {
        return sameSecret(url.searchParams.get('token'), token) || sameSecret(cookieToken(request.headers.cookie), token);
    }

    const serve = async (request: http.IncomingMessage, response: http.ServerResponse) => {
        const url = new URL(request.url ?? '/', 'http://placeholder');
        const deny = (status: number, text: string) => {
            response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...securityHeaders });
            response.end(text);
        };
        if (!allowedHosts().includes(request.headers.host ?? '')) return deny(403, 'Forbidden host.');
        if (!authorized(request, url)) return deny(401, 'Headroom needs the link with its access token: use the address Headroom printed when it started.');
        if (request.method !== 'GET' && request.method !== 'HEAD') return deny(405, 'Method not allowed.');

        const relative = decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname);
        const file = path.resolve(staticDir, `.${relative}`);
        if (!file.startsWith(path.resolve(staticDir) + path.sep)) return deny(404, 'Not found.');
        const info = await stat(file).catch(() => null);
        if (info == null || !info.isFile()) return deny(404, 'Not found.');
        const headers: Record<string, string> = {
            'Content-Type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
            'Cache-Control': relative === '/index.html' ? 'no-store' : 'private, max-age=3600',
            ...securityHeaders,
        };
        if (sameSecret(url.searchParams.get('token'), token)) {
            headers['Set-Cookie'] = `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`;
        }
        response.writeHead(200, headers);
        response.end(request.method === 'HEAD' ? undefined : await readFile(file));
    };
    const server = http.createServer((request, response) => void serve(request, response));

    const sockets = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
    server.on('upgrade', (request, socket, head) => {
        const url = new URL(request.url ?? '/', 'http://placeholder');
        const originOk = request.headers.origin == null || allowedHosts().some((h) => request.headers.origin === `http://${h}`);
        if (url.pathname !== '/rpc' || !allowedHosts().includes(request.headers.host ?? '') || !originOk || !authorized(request, url)) {
            socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
            return;
        }
        sockets.handleUpgrade(request, socket, head, (ws) => serveSocket(ws, backend));
    });

    await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve());
    });
    actualPort = (server.address() as { port: number }).port;
    origin = `http://${host}:${actualPort}`;

    return {
        url: `${origin}/?token=${token}`,
        port: actualPort,
        token,
        close: async () => {
            for (const client of sockets.clients) client.terminate();
            sockets.close();
            await new Promise<void>((resolve) => server.close(() => resolve()));
        },
    };
}

function serveSocket(ws: WebSocket, backend: Backend): void {
    const send = (message: unknown) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
    };
    const unsubscribe = backend.subscribe(send);
    send(eventEnvelope('engine.state', backend.supervisor.state));
    ws.on('message', (data: Buffer) => {
        let message: unknown;
        try {
            message = JSON.parse(data.toString('utf8'));
        } catch {
            send({ type: 'response', id: -1, ok: false, error: { code: 'BAD_REQUEST', message: 'Malformed request: not JSON.' } });
            return;
        }
        void dispatch(backend.handlers, message).then(send);
    });
    ws.on('close', unsubscribe);
}
