// What the app's command-line tools (ask, plan, serve) share: one way to refuse an option, and
// the options they have in common, read the same way.
import path from 'node:path';
import { errorMessage } from '../common/errors.ts';
import { userDataPaths } from '../backend/paths.ts';

/** Prints `<tool>: <message>` on stderr and exits with code 2 (the command was used wrongly). */
export function refuse(tool: string, message: string): never {
    process.stderr.write(`${tool}: ${message}\n`);
    process.exit(2);
}

/** A whole number from an option, or undefined when the option is absent; refused below `min`. */
export function wholeNumber(value: string | undefined, min: number, refusal: (value: string) => string): number | undefined {
    if (value == null) return undefined;
    const number = Number(value);
    if (!Number.isInteger(number) || number < min) throw new RangeError(refusal(value));
    return number;
}

export const contextOption = (value: string | undefined) =>
    wholeNumber(value, 64, (v) => `--context must be a whole number of tokens (64 or more), not "${v}".`);

export const threadsOption = (value: string | undefined) =>
    wholeNumber(value, 1, (v) => `--threads must be a whole number, 1 or more, not "${v}".`);

/** Reads the options, turning the first refusal (a thrown error) into the tool's one-line error, usage after it. */
export function checked<T>(tool: string, read: () => T, usage?: string): T {
    try {
        return read();
    } catch (error) {
        const line = errorMessage(error).split('\n')[0] ?? '';
        return refuse(tool, usage == null ? line : `${line}\n${usage}`);
    }
}

/** Where the app and `npm run serve` keep chats and settings unless `--data-dir` says otherwise (common/paths.ts). */
export function defaultDataDir(): string {
    return path.dirname(userDataPaths().chats);
}
