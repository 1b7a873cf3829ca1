// Shared command-line plumbing for the measurement CLIs: option parsing and error reporting.
import os from 'node:os';
import type { Device } from '../common/devices.ts';
import { errorMessage, HeadroomError } from '../common/errors.ts';
import type { KvOptions } from '../common/kv/policy.ts';

export function parseNumberList(value: string, what: string): number[] {
    const numbers = value.split(',').map((part) => Number(part.trim()));
    if (numbers.length === 0 || numbers.some((n) => !Number.isFinite(n))) throw new HeadroomError('BAD_REQUEST', `--${what} wants comma-separated numbers, got "${value}".`);
    return numbers;
}

/** How a result names a KV mode: "off", "auto", "budget 0.25". */
export function kvLabel(kv: KvOptions): string {
    return kv.mode === 'budget' ? `budget ${kv.budget}` : kv.mode;
}

/** What the run measured on, in words. */
export function deviceName(compute: Device, gpuName: string | null, threads: number): string {
    const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
    return compute === 'cpu'
        ? `cpu: ${cpu}, ${threads} thread${threads === 1 ? '' : 's'} (${os.cpus().length} cores)`
        : `gpu: ${gpuName ?? 'unknown GPU'} (host ${cpu})`;
}

/** Runs a CLI's main, turning HeadroomErrors into one plain line and exit code 1. */
export function runCli(main: () => Promise<void>): void {
    main().catch((error: unknown) => {
        process.stderr.write(error instanceof HeadroomError ? `error (${error.code}): ${error.message}\n` : `error: ${errorMessage(error)}\n`);
        process.exitCode = 1;
    });
}
