// The renderer's single connection to the backend: Electron's preload channel in the
// desktop app, a token-guarded WebSocket in web mode. Both carry the same envelopes.
import type { RequestEnvelope } from '../../common/contract.ts';
import { RpcClient } from '../../common/rpc.ts';
import { uiContract, type UiEvent, type uiRequests } from '../../common/uiContract.ts';

export type ConnectionState = 'connecting' | 'open' | 'lost';

export interface Bridge {
    /** The window's end of its contract with the backend: results and events are checked as they arrive. */
    readonly client: RpcClient<typeof uiRequests, UiEvent>;
    readonly kind: 'electron' | 'web';
    onConnection: (listener: (state: ConnectionState) => void) => () => void;
}

function electronBridge(channel: HeadroomPreload): Bridge {
    const client = new RpcClient(uiContract, (envelope) => channel.send(envelope));
    channel.onMessage((message) => client.receive(message));
    return { client, kind: 'electron', onConnection: (listener) => (listener('open'), () => {}) };
}

const RECONNECT_MS = [250, 500, 1000, 2000, 4000];

/** The token from the address Headroom printed, then dropped from the address bar and the history (the cookie holds it). */
function takeToken(): string {
    const params = new URLSearchParams(location.search);
    const token = params.get('token') ?? '';
    if (params.has('token')) {
        params.delete('token');
        const query = params.toString();
        history.replaceState(history.state, '', `${location.pathname}${query === '' ? '' : `?${query}`}${location.hash}`);
    }
    return token;
}

function webBridge(): Bridge {
    const token = takeToken();
    // Without a token in the address (a reload) the socket is let in by the cookie.
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/rpc${token === '' ? '' : `?token=${encodeURIComponent(token)}`}`;
    const listeners = new Set<(state: ConnectionState) => void>();
    const setState = (state: ConnectionState) => listeners.forEach((listener) => listener(state));
    let socket: WebSocket | null = null;
    let queue: RequestEnvelope[] = [];
    let attempt = 0;

    const client = new RpcClient(uiContract, (envelope) => {
        if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(envelope));
        else queue.push(envelope);
    });

    const connect = () => {
        setState('connecting');
        const ws = new WebSocket(url);
        socket = ws;
        ws.onopen = () => {
            attempt = 0;
            setState('open');
            for (const envelope of queue) ws.send(JSON.stringify(envelope));
            queue = [];
        };
        ws.onmessage = (event) => {
            try {
                client.receive(JSON.parse(String(event.data)));
            } catch {
                console.warn('[bridge] dropped a message that was not JSON');
            }
        };
        ws.onclose = () => {
            client.failAll('ENGINE_UNAVAILABLE', 'Lost the connection to Headroom. Reconnecting…');
            setState('lost');
            setTimeout(connect, RECONNECT_MS[Math.min(attempt++, RECONNECT_MS.length - 1)]);
        };
    };
    connect();
    return {
        client,
        kind: 'web',
        onConnection(listener) {
            listeners.add(listener);
            return () => listeners.delete(listener);
        },
    };
}

export const bridge: Bridge = window.headroom != null ? electronBridge(window.headroom) : webBridge();
export const rpc = bridge.client;
