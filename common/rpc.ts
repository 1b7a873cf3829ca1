// Both ends of the contract: `dispatch` serves validated requests, `RpcClient` sends them and
// validates what comes back, events included. Transport-agnostic: callers move the envelopes.
import { z } from 'zod';
import {
    type EventName, type EventPayload, type Method, type Params, type Result, type ResponseEnvelope,
    EventEnvelope, InboundToClient, isMethod, RequestEnvelope, requests,
} from './contract.ts';
import { type ErrorCode, fromRpcError, HeadroomError, toRpcError } from './errors.ts';

export type Handlers<M extends Method = Method> = {
    [K in M]: (params: Params<K>) => Promise<Result<K>>;
};

/** The first few problems, each with the path it is about; and the first path, for a form to point at. */
function describeIssues(error: z.ZodError): { message: string; field: string | undefined } {
    const path = (issue: z.core.$ZodIssue) => issue.path.map(String).join('.');
    const message = error.issues
        .slice(0, 5)
        .map((issue) => `${issue.path.length > 0 ? path(issue) : 'value'}: ${issue.message}`)
        .join('; ');
    const first = error.issues[0];
    return { message, field: first != null && first.path.length > 0 ? path(first) : undefined };
}

/** Validate one raw inbound message and run its handler; never throws. */
export async function dispatch(handlers: Partial<Handlers>, raw: unknown): Promise<ResponseEnvelope> {
    const envelope = RequestEnvelope.safeParse(raw);
    if (!envelope.success) {
        const id = typeof (raw as { id?: unknown } | null)?.id === 'number' ? (raw as { id: number }).id : -1;
        return { type: 'response', id, ok: false, error: { code: 'BAD_REQUEST', message: `Malformed request: ${describeIssues(envelope.error).message}` } };
    }
    const { id, method, params } = envelope.data;
    const fail = (error: HeadroomError): ResponseEnvelope => ({ type: 'response', id, ok: false, error: toRpcError(error) });
    if (!isMethod(method)) return fail(new HeadroomError('UNKNOWN_METHOD', `Unknown method "${method}".`));
    const handler = handlers[method] as ((p: unknown) => Promise<unknown>) | undefined;
    if (handler == null) return fail(new HeadroomError('NOT_AVAILABLE', `"${method}" is not available here.`));
    const parsed = requests[method].params.safeParse(params ?? {});
    if (!parsed.success) {
        const { message, field } = describeIssues(parsed.error);
        return fail(new HeadroomError('BAD_REQUEST', `Invalid parameters for ${method}: ${message}`, field));
    }
    try {
        const result = await handler(parsed.data);
        return { type: 'response', id, ok: true, result };
    } catch (error) {
        return { type: 'response', id, ok: false, error: toRpcError(error) };
    }
}

export function eventEnvelope<E extends EventName>(name: E, payload: EventPayload<E>): EventEnvelope<E> {
    return { type: 'event', name, payload };
}

type Listener = (event: EventEnvelope) => void;

/** Sends requests over any transport and validates every response and event it receives. */
export class RpcClient {
    #nextId = 1;
    #pending = new Map<number, { method: Method; resolve: (value: unknown) => void; reject: (error: Error) => void }>();
    #listeners = new Set<Listener>();
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

    /** Every valid event, as it arrives. */
    onEvent(listener: Listener): () => void {
        this.#listeners.add(listener);
        return () => this.#listeners.delete(listener);
    }

    on<E extends EventName>(name: E, listener: (payload: EventPayload<E>) => void): () => void {
        return this.onEvent((event) => {
            if (event.name === name) listener(event.payload as EventPayload<E>);
        });
    }

    /** Feed one raw inbound message (response or event). Invalid ones are dropped and reported. */
    receive(raw: unknown): void {
        const message = InboundToClient.safeParse(raw);
        if (!message.success) {
            console.warn(`[rpc] dropped a malformed message: ${describeIssues(message.error).message}`);
            return;
        }
        const data = message.data;
        if (data.type === 'event') {
            for (const listener of this.#listeners) listener(data);
            return;
        }
        const pending = this.#pending.get(data.id);
        if (pending == null) return;
        this.#pending.delete(data.id);
        if (!data.ok) {
            pending.reject(fromRpcError(data.error));
            return;
        }
        const result = requests[pending.method].result.safeParse(data.result);
        if (result.success) pending.resolve(result.data);
        else pending.reject(new HeadroomError('INTERNAL', `Invalid ${pending.method} result: ${describeIssues(result.error).message}`));
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
