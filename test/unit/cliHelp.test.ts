// One grammar for every command's --help (common/cliHelp.ts; test/cliHelp.test.ts runs each
// command), and counted words said right.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { commandLine, HELP_OPTION, helpText, usageLine, type CliSpec } from '../../common/cliHelp.ts';
import { plural } from '../../common/words.ts';

describe('--help on every command', () => {
    test('the grammar: usage with the required options, the summary, one aligned line per option', () => {
        const spec = {
            command: 'npm run thing',
            summary: 'Does a thing.',
            options: {
                model: { type: 'string', value: '<gguf>', help: 'the model', required: true },
                doc: { type: 'string', multiple: true, value: '<file>', help: 'a document' },
                lengths: { type: 'string', default: '512,1024', value: '<tokens,…>', help: 'lengths' },
                help: HELP_OPTION,
            },
        } as const satisfies CliSpec;
        assert.equal(usageLine(spec), 'Usage: npm run thing -- --model <gguf> [options]');
        assert.equal(helpText(spec), [
            'Usage: npm run thing -- --model <gguf> [options]', '', 'Does a thing.', '', 'Options:',
            '  --model <gguf>        the model (required)',
            '  --doc <file>          a document (may be given more than once)',
            '  --lengths <tokens,…>  lengths (default: 512,1024)',
            '  -h, --help            show this help and exit', '',
        ].join('\n'));
        assert.equal(usageLine({ command: 'node x.ts', summary: '', options: { out: { type: 'string', value: '<dir>', help: '', required: true } } }), 'Usage: node x.ts --out <dir>');
        assert.equal(usageLine({ command: 'node t.ts', positionals: '<file>…', summary: '', options: { help: HELP_OPTION } }), 'Usage: node t.ts <file>… [options]');
    });

    test('a result records the command line that made it, as it would be typed again', () => {
        assert.equal(commandLine('npm run bench:kv', ['--model', '/m/a b.gguf', '--kv', 'off,budget:0.25', '--note', "it's"]),
            "npm run bench:kv -- --model '/m/a b.gguf' --kv off,budget:0.25 --note 'it'\\''s'");
        assert.equal(commandLine('node bench/x.ts', ['--out', 'r/1']), 'node bench/x.ts --out r/1');
        assert.equal(commandLine('npm run eval', []), 'npm run eval');
    });
});

describe('counted words', () => {
    test('one is singular, every other count plural, with thousands separated', () => {
        assert.deepEqual([plural('page', 1), plural('page', 0), plural('page', 2), plural('token', 1024), plural('KV snapshot', 1)], ['1 page', '0 pages', '2 pages', '1,024 tokens', '1 KV snapshot']);
        assert.equal(plural('child', 3, 'children'), '3 children');
    });
});
