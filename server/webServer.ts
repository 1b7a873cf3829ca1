// Web mode: serves the built renderer on loopback and bridges the IPC contract over a
// WebSocket. Every page, asset and socket needs the per-launch token; the page gets it in
// its URL and then holds it in a strict same-site cookie so its assets load too. Every request
// and socket fails closed: anything malformed (a URL that does not parse, a bad escape, a frame
// over the limit or not UTF-8) is answered 4xx or closed and logged, and the server stays up.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Backend } from '../backend/backend.ts';
import { dispatch, eventEnvelope } from '../common/rpc.ts';
import { uiContract } from '../common/uiContract.ts';

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

// Cookies are not kept apart by port: each server names its own, so two never overwrite each other's.
const cookieName = (port: number) => `headroom_token_${port}`;
// A whole document (up to 64 MB) travels base64-encoded in one documents.add request.
const MAX_MESSAGE_BYTES = 96 * 1024 * 1024;

function log(message: string): void {
    process.stderr.write(`headroom: ${message}\n`);
}

/** The request's path and query, or null when its target is not a URL at all ("http://["). */
function requestUrl(request: http.IncomingMessage): URL | null {
    try {
        return new URL(request.url ?? '/', 'http://placeholder');
    } catch {
        return null;
    }
}

/** A percent-decoded path, or null for a malformed escape ("/%E0%A4%A"). */
function decodedPath(pathname: string): string | null {
    try {
        return decodeURIComponent(pathname);
    } catch {
        return null;
    }
}

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

function cookieToken(header: string | undefined, name: string): string | null {
    for (const part of (header ?? '').split(';')) {
        const [key, ...value] = part.trim().split('=');
        if (key === name) return value.join('=');
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
        return sameSecret(url.searchParams.get('token'), token) || sameSecret(cookieToken(request.headers.cookie, cookieName(actualPort)), token);
    }

    const serve = async (request: http.IncomingMessage, response: http.ServerResponse) => {
        const deny = (status: number, text: string) => {
            response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...securityHeaders });
            response.end(text);
        };
        const url = requestUrl(request);
        if (url == null) return deny(400, 'Bad request: the address could not be read.');
        if (!allowedHosts().includes(request.headers.host ?? '')) return deny(403, 'Forbidden host.');
        if (!authorized(request, url)) return deny(401, 'Headroom needs the link with its access token: use the address Headroom printed when it started.');
        if (request.method !== 'GET' && request.method !== 'HEAD') return deny(405, 'Method not allowed.');

        const relative = decodedPath(url.pathname === '/' ? '/index.html' : url.pathname);
        if (relative == null || relative.includes('\0')) return deny(400, 'Bad request: the address could not be read.');
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
            headers['Set-Cookie'] = `${cookieName(actualPort)}=${token}; HttpOnly; SameSite=Strict; Path=/`;
        }
        const body = request.method === 'HEAD' ? undefined : await readFile(file);
        response.writeHead(200, headers);
        response.end(body);
    };
    const server = http.createServer((request, response) => {
        serve(request, response).catch((error: unknown) => {
            log(`${request.method} ${request.url} failed: ${error instanceof Error ? error.message : String(error)}`);
            if (!response.headersSent) {
                response.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', ...securityHeaders });
                response.end('Headroom could not answer this request.');
            } else {
                response.destroy();
            }
        });
    });
    // A request line or header Node cannot parse: answer 400 (unless the socket is gone) and log it.
    server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
        log(`refused a malformed request (${error.code ?? error.message})`);
        const status = error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
        if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        else socket.destroy();
    });

    const sockets = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
    sockets.on('error', (error) => log(`WebSocket server error: ${error.message}`));
    server.on('upgrade', (request, socket, head) => {
        // Until ws takes the socket over (it handles the socket's errors itself from then on). A
        // client that went away (reset, broken pipe) is no news worth a line.
        const beforeUpgrade = (error: NodeJS.ErrnoException) => {
            if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') log(`socket error before the upgrade: ${error.code ?? error.message}`);
        };
        socket.on('error', beforeUpgrade);
        const refuse = (status: string) => socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        const url = requestUrl(request);
        if (url == null) return refuse('400 Bad Request');
        const originOk = request.headers.origin == null || allowedHosts().some((h) => request.headers.origin === `http://${h}`);
        if (url.pathname !== '/rpc' || !allowedHosts().includes(request.headers.host ?? '') || !originOk || !authorized(request, url)) {
            return refuse('401 Unauthorized');
        }
        sockets.handleUpgrade(request, socket, head, (ws) => {
            socket.off('error', beforeUpgrade);
            serveSocket(ws, backend);
        });
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
    // Ends the work this window started that only it was waiting for (reading a document).
    const gone = new AbortController();
    send(eventEnvelope('engine.state', backend.supervisor.state));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
        let message: unknown;
        try {
            if (isBinary) throw new Error('binary');
            message = JSON.parse(data.toString('utf8'));
        } catch {
            send({ type: 'response', id: -1, ok: false, error: { code: 'BAD_REQUEST', message: 'Malformed request: it is not JSON text.' } });
            return;
        }
        void dispatch(uiContract, backend.handlers, message, { signal: gone.signal }).then(send);
    });
    // A frame over the size limit or with invalid UTF-8: ws closes the socket (1009, 1007) and reports it here.
    ws.on('error', (error: Error & { code?: string }) => log(`closed a WebSocket: ${error.code ?? error.message}`));
    ws.on('close', () => {
        unsubscribe();
        gone.abort();
    });
}
