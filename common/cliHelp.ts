// One grammar for every command's --help (cli/, server/, bench/): a usage line, a sentence saying
// what the command does, then its options aligned, each with the value it takes, its default and
// whether it is required. The options are declared once: the same object is node:util parseArgs'
// configuration (which ignores the extra words) and the help's source, so no option goes unsaid.
import { KV_FLAG_USAGE, KV_TYPE_FLAG_USAGE } from './kv/flag.ts';

/** One option: parseArgs' own fields, and the words --help says about it. */
export interface CliOption {
    type: 'string' | 'boolean';
    short?: string;
    multiple?: boolean;
    default?: string | boolean | string[];
    /** The value it takes, as typed ('<file>', 'off|auto|0.25|budget:0.25'); a switch has none. */
    value?: string;
    /** What it does, in a few words. */
    help: string;
    /** Said in the usage line and marked required (the command checks it itself). */
    required?: boolean;
    /** The default as said, where the parsed default is not how a person would say it. */
    defaultText?: string;
}

export interface CliSpec {
    /** How it is run: 'npm run ask'. */
    command: string;
    /** What it does, one sentence. */
    summary: string;
    /** What it takes besides its options, said right after the command ('<kv-bench.json>…'). */
    positionals?: string;
    options: Readonly<Record<string, CliOption>>;
    /** Other ways to run it, after the command's `--` ('--chart <dir>'). */
    otherForms?: readonly string[];
}

/** Every command's -h/--help. */
export const HELP_OPTION = { type: 'boolean', short: 'h', help: 'show this help and exit' } as const satisfies CliOption;

const flagOf = (name: string, option: CliOption) =>
    `${option.short != null ? `-${option.short}, ` : ''}--${name}${option.value != null ? ` ${option.value}` : ''}`;

/** `Usage: npm run ask -- --model <…> --doc <file>… --question <text> [options]`. */
export function usageLine(spec: CliSpec): string {
    const required = Object.entries(spec.options).filter(([, option]) => option.required === true)
        .map(([name, option]) => `--${name}${option.value != null ? ` ${option.value}` : ''}${option.multiple === true ? '…' : ''}`);
    const optional = Object.values(spec.options).some((option) => option.required !== true);
    const forms = [[...(spec.positionals != null ? [spec.positionals] : []), ...required, ...(optional ? ['[options]'] : [])].join(' '), ...(spec.otherForms ?? [])];
    // npm passes a command's own options after `--`; node takes them as they are.
    const separator = spec.command.startsWith('npm ') ? ' -- ' : ' ';
    return forms.map((form, index) => `${index === 0 ? 'Usage:' : '      '} ${spec.command}${form === '' ? '' : `${separator}${form}`}`).join('\n');
}

/** The whole help: usage, summary, and one line per option. */
export function helpText(spec: CliSpec): string {
    const rows = Object.entries(spec.options).map(([name, option]) => {
        const defaultText = option.defaultText ?? (typeof option.default === 'string' && option.default !== '' ? option.default : null);
        const notes = [
            ...(option.required === true ? ['required'] : []),
            ...(option.multiple === true ? ['may be given more than once'] : []),
            ...(defaultText != null ? [`default: ${defaultText}`] : []),
        ];
        return [flagOf(name, option), `${option.help}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`] as const;
    });
    const width = Math.min(34, Math.max(...rows.map(([flag]) => flag.length)));
    const lines = rows.map(([flag, help]) => (flag.length > width ? `  ${flag}\n  ${' '.repeat(width)}  ${help}` : `  ${flag.padEnd(width)}  ${help}`));
    return `${usageLine(spec)}\n\n${spec.summary}\n\nOptions:\n${lines.join('\n')}\n`;
}

/** The command line as a person would type it again (`npm run bench:kv -- --model m.gguf …`), for results to record. */
export function commandLine(command: string, args: readonly string[]): string {
    const quoted = args.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`));
    return [command, ...(command.startsWith('npm ') && args.length > 0 ? ['--'] : []), ...quoted].join(' ');
}

// Options several commands share, said the same way everywhere.
export const MODEL_VALUE = '<path.gguf|hf:user/repo:quant|URL>';
export const KV_OPTION = { type: 'string', default: 'off', value: KV_FLAG_USAGE.replace(/^--kv /, ''), help: 'KV compression, as the settings panel says it: off, auto (the head profile\'s budget), or the share of the full cache to keep' } as const satisfies CliOption;
export const KV_TYPE_OPTION = { type: 'string', default: 'f16', value: KV_TYPE_FLAG_USAGE.replace(/^--kv-type /, ''), help: 'the KV cache\'s number format' } as const satisfies CliOption;
export const CONTEXT_OPTION = { type: 'string', value: '<tokens>', help: 'the context size', defaultText: 'automatic' } as const satisfies CliOption;
export const THREADS_OPTION = { type: 'string', value: '<n>', help: 'CPU threads', defaultText: 'automatic' } as const satisfies CliOption;
