// Shared command-line plumbing for the measurement CLIs: option parsing and error reporting.
import { errorMessage, HeadroomError } from '../common/errors.ts';

export function parseNumberList(value: string, what: string): number[] {
    const numbers = value.split(',').map((part) => Number(part.trim()));
    if (numbers.length === 0 || numbers.some((n) => !Number.isFinite(n))) throw new HeadroomError('BAD_REQUEST', `--${what} wants comma-separated numbers, got "${value}".`);
    return numbers;
}

/** Runs a CLI's main, turning HeadroomErrors into one plain line and exit code 1. */
export function runCli(main: () => Promise<void>): void {
    main().catch((error: unknown) => {
        process.stderr.write(error instanceof HeadroomError ? `error (${error.code}): ${error.message}\n` : `error: ${errorMessage(error)}\n`);
        process.exitCode = 1;
    });
}
