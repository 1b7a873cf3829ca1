// Both ends of a contract (the window's with the backend, common/uiContract.ts; the backend's with
// an engine host, common/contract.ts): `dispatch` serves validated requests, `RpcClient` sends
// them and validates what comes back, events included. Transport-agnostic: callers move the envelopes.
import type { z } from 'zod';
import {
    type Contract, type EventName, type EventPayload, type RequestTable, type ResponseEnvelope,
    EventEnvelope, InboundToClient, RequestEnvelope,
} from './contract.ts';
import { type ErrorCode, fromRpcError, HeadroomError, toRpcError } from './errors.ts';
import { describeIssues, plainIssue } from './issues.ts';

/** The part of an AbortSignal a handler uses (common/ sees neither the DOM's nor Node's types). */
export interface CancelSignal {
    readonly aborted: boolean;
    addEventListener: (type: 'abort', listener: () => void, options?: { once?: boolean }) => void;
    removeEventListener: (type: 'abort', listener: () => void) => void;
}

/** What a handler knows about the request besides its params: `signal` fires when the client went away. */
export interface RequestContext {
    signal: CancelSignal;
}

export type MethodOf<R extends RequestTable> = keyof R & string;
export type ParamsOf<R extends RequestTable, M extends MethodOf<R>> = z.infer<R[M]['params']>;
export type ResultOf<R extends RequestTable, M extends MethodOf<R>> = z.infer<R[M]['result']>;

/** What serves a contract's requests: one handler a method (`M`: the ones a part of the server answers). */
export type Handlers<R extends RequestTable, M extends MethodOf<R> = MethodOf<R>> = {
    [K in M]: (params: ParamsOf<R, K>, context?: RequestContext) => Promise<ResultOf<R, K>>;
};

const NEVER_ABORTED: RequestContext = { signal: { aborted: false, addEventListener: () => {}, removeEventListener: () => {} } };

/** Validate one raw inbound message against the contract and run its handler; never throws. */
export async function dispatch<R extends RequestTable>(contract: Contract<R>, handlers: Partial<Handlers<R>>, raw: unknown, context: RequestContext = NEVER_ABORTED): Promise<ResponseEnvelope> {
    const envelope = RequestEnvelope.safeParse(raw, { error: plainIssue });
    if (!envelope.success) {
        const id = typeof (raw as { id?: unknown } | null)?.id === 'number' ? (raw as { id: number }).id : -1;
        return { type: 'response', id, ok: false, error: { code: 'BAD_REQUEST', message: `Malformed request: ${describeIssues(envelope.error).message}` } };
    }
    const { id, method, params } = envelope.data;
    const fail = (error: HeadroomError): ResponseEnvelope => ({ type: 'response', id, ok: false, error: toRpcError(error) });
    // Own properties only: "constructor" or "__proto__" is no method.
    const entry = Object.hasOwn(contract.requests, method) ? contract.requests[method] : undefined;
    if (entry == null) return fail(new HeadroomError('UNKNOWN_METHOD', `Unknown method "${method}".`));
    const handler = (Object.hasOwn(handlers, method) ? handlers[method] : undefined) as ((p: unknown, c: RequestContext) => Promise<unknown>) | undefined;
    if (handler == null) return fail(new HeadroomError('NOT_AVAILABLE', `"${method}" is not available here.`));
    const parsed = entry.params.safeParse(params ?? {}, { error: plainIssue });
    if (!parsed.success) {
        const { message, field } = describeIssues(parsed.error);
        return fail(new HeadroomError('BAD_REQUEST', `Invalid parameters for ${method}: ${message}`, field));
    }
    try {
        const result = await handler(parsed.data, context);
        return { type: 'response', id, ok: true, result };
    } catch (error) {
        // A refusal is worded for people already; anything else is a bug: logged whole, said plainly.
        if (!(error instanceof HeadroomError)) console.error(`[rpc] ${method} failed unexpectedly:`, error);
        return { type: 'response', id, ok: false, error: toRpcError(error) };
    }
}

export function eventEnvelope<E extends EventName>(name: E, payload: EventPayload<E>): EventEnvelope<E> {
    return { type: 'event', name, payload };
}

/**
 * Sends a contract's requests over any transport and validates every response and event it
 * receives: results against the method's schema, events against theirs, and only the events the
 * contract's server may send (any other name is dropped).
 */
export class RpcClient<R extends RequestTable, E extends EventName> {
    #nextId = 1;
    #pending = new Map<number, { method: MethodOf<R>; resolve: (value: unknown) => void; reject: (error: Error) => void }>();
    #listeners = new Set<(event: EventEnvelope<E>) => void>();
    #send: (envelope: RequestEnvelope) => void;
    #contract: Contract<R, E>;
    #accepts: ReadonlySet<EventName>;

    constructor(contract: Contract<R, E>, send: (envelope: RequestEnvelope) => void) {
        this.#contract = contract;
        this.#send = send;
        this.#accepts = new Set(contract.events);
    }

    request<M extends MethodOf<R>>(method: M, params: ParamsOf<R, M>): Promise<ResultOf<R, M>> {
        const id = this.#nextId++;
        return new Promise<ResultOf<R, M>>((resolve, reject) => {
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
    onEvent(listener: (event: EventEnvelope<E>) => void): () => void {
        this.#listeners.add(listener);
        return () => this.#listeners.delete(listener);
    }

    on<N extends E>(name: N, listener: (payload: EventPayload<N>) => void): () => void {
        return this.onEvent((event) => {
            if (event.name === name) listener(event.payload);
        });
    }

    /** Feed one raw inbound message (response or event). Invalid ones are dropped and reported. */
    receive(raw: unknown): void {
        const message = InboundToClient.safeParse(raw, { error: plainIssue });
        if (!message.success) {
            console.warn(`[rpc] dropped a malformed message: ${describeIssues(message.error).message}`);
            return;
        }
        const data = message.data;
        if (data.type === 'event') {
            if (!this.#accepts.has(data.name)) {
                console.warn(`[rpc] dropped a "${data.name}" event the other side may not send`);
                return;
            }
            // Checked just above: the name is one of E.
            for (const listener of this.#listeners) listener(data as EventEnvelope<E>);
            return;
        }
        const pending = this.#pending.get(data.id);
        if (pending == null) return;
        this.#pending.delete(data.id);
        if (!data.ok) {
            pending.reject(fromRpcError(data.error));
            return;
        }
        const schema = this.#contract.requests[pending.method]?.result;
        if (schema == null) return pending.reject(new HeadroomError('INTERNAL', `${pending.method} is no method of ${this.#contract.server}.`));
        const result = schema.safeParse(data.result, { error: plainIssue });
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
