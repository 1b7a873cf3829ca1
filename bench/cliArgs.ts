// Shared command-line plumbing for the measurement CLIs: option parsing and error reporting.
import os from 'node:os';
import { KvOptions } from '../common/kv/policy.ts';
import { HeadroomError } from '../common/rpc.ts';

export function parseNumberList(value: string, what: string): number[] {
    const numbers = value.split(',').map((part) => Number(part.trim()));
    if (numbers.length === 0 || numbers.some((n) => !Number.isFinite(n))) throw new HeadroomError('BAD_REQUEST', `--${what} wants comma-separated numbers, got "${value}".`);
    return numbers;
}

/** off | auto | budget[:fraction] (budget alone means 0.5). */
export function parseKv(value: string): KvOptions {
    const [mode, fraction] = value.split(':');
    const parsed = KvOptions.safeParse({
        mode,
        ...(mode === 'budget' ? { budget: fraction == null ? 0.5 : Number(fraction) } : {}),
    });
    if (!parsed.success || (mode !== 'budget' && fraction != null)) {
        throw new HeadroomError('BAD_REQUEST', `--kv wants off, auto or budget[:fraction in (0, 1]], got "${value}".`);
    }
    return parsed.data;
}

export function kvLabel(kv: KvOptions): string {
    return kv.mode === 'budget' ? `budget ${kv.budget}` : kv.mode;
}

/** What the run measured on, in words. */
export function deviceName(compute: 'gpu' | 'cpu', gpuName: string | null, threads: number): string {
    const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
    return compute === 'cpu'
        ? `cpu: ${cpu}, ${threads} thread${threads === 1 ? '' : 's'} (${os.cpus().length} cores)`
        : `gpu: ${gpuName ?? 'unknown GPU'} (host ${cpu})`;
}

/** Runs a CLI's main, turning HeadroomErrors into one plain line and exit code 1. */
export function runCli(main: () => Promise<void>): void {
    main().catch((error: unknown) => {
        if (error instanceof HeadroomError) {
            process.stderr.write(`error (${error.code}): ${error.message}\n`);
        } else {
            process.stderr.write(`error: ${(error as Error)?.message ?? String(error)}\n`);
        }
        process.exitCode = 1;
    });
}
