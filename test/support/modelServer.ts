// A file server on 127.0.0.1 for download tests: real files with Range support, a pace in
// bytes per second so progress can be watched, connections dropped mid-stream on request, and
// the two Hugging Face routes node-llama-cpp uses for hf: URIs (a quant tag's manifest and
// /<user>/<repo>/resolve/<branch>/<file>), so an hf: download runs against it too.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Route =
    | { file: string; /** Close the connection after this many body bytes (every request, or the first `times`). */ dropAfter?: { bytes: number; times?: number }; headers?: Record<string, string> }
    | { json: unknown }
    | { status: number; body?: string; /** e.g. a `location` for a redirect */ headers?: Record<string, string> };

export interface ServedRequest {
    method: string;
    path: string;
    range: string | null;
    status: number;
    /** Body bytes sent. */
    bytes: number;
}

export interface ModelServer {
    origin: string;
    url: (pathname: string) => string;
    /** Every request so far, in order. */
    requests: ServedRequest[];
    route: (pathname: string, route: Route) => void;
    /** Bytes per second for every file body; 0 = as fast as possible. */
    setPace: (bytesPerSecond: number) => void;
    close: () => Promise<void>;
}

const CHUNK = 16 * 1024;

function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
    const match = /^bytes=(\d*)-(\d*)$/.exec(header ?? '');
    if (match == null) return null;
    const [, from = '', to = ''] = match;
    if (from === '') return { start: Math.max(0, size - Number(to)), end: size - 1 };
    return { start: Number(from), end: to === '' ? size - 1 : Math.min(Number(to), size - 1) };
}

export async function startModelServer(): Promise<ModelServer> {
    const routes = new Map<string, Route>();
    const drops = new Map<string, number>();
    const requests: ServedRequest[] = [];
    const sockets = new Set<Socket>();
    let pace = 0;

    const sendFile = async (request: IncomingMessage, response: ServerResponse, record: ServedRequest, route: Extract<Route, { file: string }>) => {
        const pathname = record.path;
        const { size } = await stat(route.file);
        const range = parseRange(request.headers.range, size);
        if (range != null && (range.start >= size || range.start > range.end)) {
            response.writeHead(416, { 'content-range': `bytes */${size}` }).end();
            return 416;
        }
        const { start, end } = range ?? { start: 0, end: size - 1 };
        const status = range == null ? 200 : 206;
        response.writeHead(status, {
            'content-type': 'application/octet-stream',
            'content-length': String(end - start + 1),
            'accept-ranges': 'bytes',
            ...(range != null ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
            ...route.headers,
        });
        if (request.method === 'HEAD') {
            response.end();
            return status;
        }
        const dropsSoFar = drops.get(pathname) ?? 0;
        const dropAfter = route.dropAfter != null && (route.dropAfter.times == null || dropsSoFar < route.dropAfter.times) ? route.dropAfter.bytes : Infinity;
        let sent = 0;
        const stream = createReadStream(route.file, { start, end, highWaterMark: CHUNK });
        for await (const chunk of stream as AsyncIterable<Buffer>) {
            if (response.destroyed) break;
            const piece = sent + chunk.length > dropAfter ? chunk.subarray(0, dropAfter - sent) : chunk;
            if (piece.length > 0) response.write(piece);
            sent += piece.length;
            record.bytes = sent;
            if (sent >= dropAfter) {
                drops.set(pathname, dropsSoFar + 1);
                // Mid-stream, as a failing network would: the body stops short of its length.
                await new Promise((resolve) => setTimeout(resolve, 20));
                response.socket?.destroy();
                stream.destroy();
                return status;
            }
            if (pace > 0) await new Promise((resolve) => setTimeout(resolve, (piece.length / pace) * 1000));
        }
        response.end();
        return status;
    };

    const server = createServer((request, response) => {
        const pathname = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
        const record: ServedRequest = { method: request.method ?? 'GET', path: pathname, range: request.headers.range ?? null, status: 0, bytes: 0 };
        requests.push(record);
        const route = routes.get(pathname);
        const answer = async (): Promise<number> => {
            if (route == null) {
                response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found');
                return 404;
            }
            if ('json' in route) {
                response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(route.json));
                return 200;
            }
            if ('status' in route) {
                response.writeHead(route.status, { 'content-type': 'text/html', ...route.headers }).end(route.body ?? '');
                return route.status;
            }
            return sendFile(request, response, record, route);
        };
        answer().then((status) => (record.status = status), () => response.destroy());
    });
    server.on('connection', (socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
        origin,
        url: (pathname) => `${origin}${pathname}`,
        requests,
        route: (pathname, route) => {
            routes.set(pathname, route);
            drops.delete(pathname);
        },
        setPace: (bytesPerSecond) => (pace = bytesPerSecond),
        close: () => new Promise((resolve) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => resolve());
        }),
    };
}

/** The manifest node-llama-cpp reads to resolve hf:<user>/<repo>:<tag> (llama.cpp's ggufFile field). */
export function huggingFaceRoutes(server: ModelServer, user: string, repo: string, tag: string, fileName: string, file: string): void {
    server.route(`/v2/${user}/${repo}/manifests/${tag}`, { json: { ggufFile: { rfilename: fileName } } });
    server.route(`/${user}/${repo}/resolve/main/${fileName}`, { file });
}
