// Both ends of the contract: `dispatch` serves validated requests, `RpcClient` sends
// them and validates what comes back. Transport-agnostic: callers move the envelopes.
import { z } from 'zod';
import {
    type ErrorCode, type EventName, type EventPayload, type Method, type Params, type Result,
    type ResponseEnvelope, type RpcError, type EventEnvelope,
    events, InboundToClient, isEventName, isMethod, RequestEnvelope, requests,
} from './contract.ts';

export class HeadroomError extends Error {
    readonly code: ErrorCode;
    constructor(code: ErrorCode, message: string) {
        super(message);
        this.name = 'HeadroomError';
        this.code = code;
    }
}

export type Handlers<M extends Method = Method> = {
    [K in M]: (params: Params<K>) => Promise<Result<K>>;
};

function describeIssues(error: z.ZodError): string {
    return error.issues
        .slice(0, 5)
        .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'value'}: ${issue.message}`)
        .join('; ');
}

export function toRpcError(error: unknown): RpcError {
    if (error instanceof HeadroomError) return { code: error.code, message: error.message };
    const message = error instanceof Error ? error.message : String(error);
    return { code: 'INTERNAL', message };
}

/** Validate one raw inbound message and run its handler; never throws. */
export async function dispatch(handlers: Partial<Handlers>, raw: unknown): Promise<ResponseEnvelope> {
    const envelope = RequestEnvelope.safeParse(raw);
    if (!envelope.success) {
        const id = typeof (raw as { id?: unknown })?.id === 'number' ? (raw as { id: number }).id : -1;
        return { type: 'response', id, ok: false, error: { code: 'BAD_REQUEST', message: `Malformed request: ${describeIssues(envelope.error)}` } };
    }
    const { id, method, params } = envelope.data;
    const fail = (code: ErrorCode, message: string): ResponseEnvelope => ({ type: 'response', id, ok: false, error: { code, message } });
    if (!isMethod(method)) return fail('UNKNOWN_METHOD', `Unknown method "${method}".`);
    const handler = handlers[method] as ((p: unknown) => Promise<unknown>) | undefined;
    if (handler == null) return fail('NOT_AVAILABLE', `"${method}" is not available here.`);
    const parsed = requests[method].params.safeParse(params ?? {});
    if (!parsed.success) return fail('BAD_REQUEST', `Invalid parameters for ${method}: ${describeIssues(parsed.error)}`);
    try {
        const result = await handler(parsed.data);
        return { type: 'response', id, ok: true, result };
    } catch (error) {
        return { type: 'response', id, ok: false, error: toRpcError(error) };
    }
}

export function eventEnvelope<E extends EventName>(name: E, payload: EventPayload<E>): EventEnvelope {
    return { type: 'event', name, payload };
}

type Listener = (payload: never) => void;

/** Sends requests over any transport and validates every response and event it receives. */
export class RpcClient {
    #nextId = 1;
    #pending = new Map<number, { method: Method; resolve: (value: unknown) => void; reject: (error: Error) => void }>();
    #listeners = new Map<EventName, Set<Listener>>();
    #send: (envelope: RequestEnvelope) => void;

    constructor(send: (envelope: RequestEnvelope) => void) {
        this.#send = send;
    }

    request<M extends Method>(method: M, params: Params<M>): Promise<Result<M>> {
        const id = this.#nextId++;
        return new Promise<Result<M>>((resolve, reject) => {
            this.#pending.set(id, { method, resolve: resolve as (value: unknown) => void, reject });
            try {
                this.#send({ type: 'request', id, method, params });
            } catch (error) {
                this.#pending.delete(id);
                reject(error instanceof Error ? error : new Error(String(error)));
            }
        });
    }

    on<E extends EventName>(name: E, listener: (payload: EventPayload<E>) => void): () => void {
        let set = this.#listeners.get(name);
        if (set == null) this.#listeners.set(name, set = new Set());
        set.add(listener as Listener);
        return () => set.delete(listener as Listener);
    }

    /** Feed one raw inbound message (response or event). Invalid ones are dropped and reported. */
    receive(raw: unknown): void {
        const message = InboundToClient.safeParse(raw);
        if (!message.success) {
            console.warn(`[rpc] dropped malformed message: ${describeIssues(message.error)}`);
            return;
        }
        const data = message.data;
        if (data.type === 'event') {
            if (!isEventName(data.name)) return;
            const payload = events[data.name].safeParse(data.payload);
            if (!payload.success) {
                console.warn(`[rpc] dropped malformed ${data.name} event: ${describeIssues(payload.error)}`);
                return;
            }
            for (const listener of this.#listeners.get(data.name) ?? []) listener(payload.data as never);
            return;
        }
        const pending = this.#pending.get(data.id);
        if (pending == null) return;
        this.#pending.delete(data.id);
        if (!data.ok) {
            pending.reject(new HeadroomError(data.error.code, data.error.message));
            return;
        }
        const result = requests[pending.method].result.safeParse(data.result);
        if (result.success) pending.resolve(result.data);
        else pending.reject(new HeadroomError('INTERNAL', `Invalid ${pending.method} result: ${describeIssues(result.error)}`));
    }

    /** Reject everything in flight, e.g. when the other side went away. */
    failAll(code: ErrorCode, message: string): void {
        const pending = [...this.#pending.values()];
        this.#pending.clear();
        for (const entry of pending) entry.reject(new HeadroomError(code, message));
    }

    get pendingCount(): number {
        return this.#pending.size;
    }
}
