// Every error that crosses a process boundary: the one list of codes, the error class both ends
// throw, and the sentences more than one place says.
import { z } from 'zod';

export const ErrorCode = z.enum([
    'BAD_REQUEST',
    'UNKNOWN_METHOD',
    'NO_MODEL',
    'BUSY',
    'MODEL_LOAD_FAILED',
    'GENERATION_FAILED',
    'ENGINE_CRASHED',
    'ENGINE_OUT_OF_MEMORY',
    'ENGINE_UNAVAILABLE',
    'TIMED_OUT',
    'NOT_AVAILABLE',
    'NOT_FOUND',
    'DOCUMENT_UNREADABLE',
    'UNSUPPORTED_DOCUMENT',
    'DOCUMENT_TOO_LARGE',
    'CONTEXT_OVERFLOW',
    'INVALID_SETTINGS',
    'CANCELLED',
    'INTERNAL',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/**
 * What a person can do about a refusal, in one click: load the model again with one-off overrides
 * (model.load's `overrides`, common/settings.ts LoadOverrides, checked when they are sent).
 */
export const ErrorAction = z.object({
    kind: z.literal('reload'),
    /** The button's words: "Reload with 64K tokens: KV 2.1 GiB compressed, fits". */
    label: z.string().min(1).max(300),
    /** The model to load again. */
    path: z.string().min(1).max(4096),
    overrides: z.record(z.string(), z.unknown()),
}).strict();
export type ErrorAction = z.infer<typeof ErrorAction>;

export const RpcError = z.object({
    code: ErrorCode,
    message: z.string(),
    /** The field at fault (a setting, a request parameter's path), so a form can show the message beside it. */
    field: z.string().optional(),
    /** What would help, each a click away (a document that does not fit: a reload with a larger context). */
    actions: z.array(ErrorAction).max(8).optional(),
});
export type RpcError = z.infer<typeof RpcError>;

export class HeadroomError extends Error {
    readonly code: ErrorCode;
    readonly field: string | undefined;
    readonly actions: readonly ErrorAction[];

    constructor(code: ErrorCode, message: string, field?: string, actions: readonly ErrorAction[] = []) {
        super(message);
        this.name = 'HeadroomError';
        this.code = code;
        this.field = field;
        this.actions = actions;
    }
}

/** What a failure says to a person, whatever was thrown. */
export function errorMessage(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
}

/** What an unexpected failure (a bug, never a refusal) says to a person; whoever caught it logs the error itself. */
export const UNEXPECTED_ERROR = 'Something went wrong inside Headroom; the details were logged. Try again, and restart Headroom if it keeps happening.';

/** A failure as it crosses a boundary: refusals as worded, anything else (a TypeError, a library's own text) as UNEXPECTED_ERROR. */
export function toRpcError(error: unknown): RpcError {
    if (!(error instanceof HeadroomError)) return { code: 'INTERNAL', message: UNEXPECTED_ERROR };
    return {
        code: error.code, message: error.message,
        ...(error.field != null ? { field: error.field } : {}),
        ...(error.actions.length > 0 ? { actions: [...error.actions] } : {}),
    };
}

export function fromRpcError({ code, message, field, actions }: RpcError): HeadroomError {
    return new HeadroomError(code, message, field, actions);
}

export const noModelLoaded = () => new HeadroomError('NO_MODEL', 'No model is loaded. Pick a model first.');

export const noModelFile = (path: string) => new HeadroomError('NOT_FOUND', `No model file at ${path}.`);

export const engineBusy = () => new HeadroomError('BUSY', 'The engine is busy; stop the current reply first.');

/**
 * Set to '1' in the engine hosts of an installed app (Electron's app.isPackaged, which a host cannot
 * see): there is no source checkout to build llama.cpp in, so no message tells its user to run npm.
 */
export const PACKAGED_ENV = 'HEADROOM_PACKAGED';

/** How to get Headroom's llama.cpp build where it is missing: a source checkout builds it; an installed app is reinstalled. */
export function howToGetTheBuild(packaged: boolean): string {
    return packaged
        ? 'this installation of Headroom has no build of it for this machine; reinstalling Headroom restores it'
        : 'run `npm run build:native` to build it';
}

export const profilingNeedsBuild = (packaged: boolean) =>
    `Profiling heads needs Headroom's llama.cpp build (its head-level cache measures the heads): ${howToGetTheBuild(packaged)}.`;

export const PROFILING_NEEDS_ENGINE = 'Profiling heads needs Headroom\'s engine: set Settings → Engine to "compressed". The stock llama.cpp has no head-level cache to measure heads with.';
