// The one `--kv` grammar of every CLI, and the options ask, plan and serve share.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HeadroomError } from '../../common/errors.ts';
import { formatKvFlag, parseKvFlag, parseKvTypeFlag } from '../../common/kv/flag.ts';
import { contextOption, threadsOption } from '../../cli/args.ts';

describe('--kv', () => {
    test('off, auto, a fraction, or budget:fraction; the defaults filled in', () => {
        assert.deepEqual(parseKvFlag('off'), { mode: 'off', sinks: 4, window: 128, offload: 'auto' });
        assert.deepEqual(parseKvFlag('auto', 'cpu'), { mode: 'auto', sinks: 4, window: 128, offload: 'cpu' });
        for (const written of ['0.25', 'budget:0.25', '.25', 'budget:.25']) {
            assert.deepEqual(parseKvFlag(written), { mode: 'budget', budget: 0.25, sinks: 4, window: 128, offload: 'auto' }, written);
        }
        assert.equal(parseKvFlag('1').budget, 1, 'the whole cache is a budget too');
    });

    test('anything else is refused in one sentence that names the value', () => {
        for (const written of ['half', '0', '1.5', 'budget:2', 'budget', 'budget:', '-0.5', '0.25x', 'auto:0.5', '', 'OFF']) {
            assert.throws(() => parseKvFlag(written), (error: HeadroomError) =>
                error.code === 'BAD_REQUEST' && error.message === `--kv must be off, auto or a budget in (0, 1], not "${written}".`, written);
        }
        assert.throws(() => parseKvFlag('0.5', 'disk'), { message: '--offload must be gpu, cpu or auto, not "disk".' });
    });

    test('formatting gives back a value that parses to the same options', () => {
        for (const written of ['off', 'auto', 'budget:0.25', 'budget:1']) assert.equal(formatKvFlag(parseKvFlag(written)), written);
        assert.equal(formatKvFlag(parseKvFlag('0.5')), 'budget:0.5');
    });
});

describe('--context and --threads', () => {
    test('whole numbers from a floor up; absent is undefined', () => {
        assert.equal(contextOption('4096'), 4096);
        assert.equal(contextOption('64'), 64);
        assert.equal(contextOption(undefined), undefined);
        assert.equal(threadsOption('1'), 1);
        assert.throws(() => contextOption('63'), { message: '--context must be a whole number of tokens (64 or more), not "63".' });
        assert.throws(() => contextOption('lots'), { message: '--context must be a whole number of tokens (64 or more), not "lots".' });
        assert.throws(() => threadsOption('2.5'), { message: '--threads must be a whole number, 1 or more, not "2.5".' });
        assert.throws(() => threadsOption('0'), { message: '--threads must be a whole number, 1 or more, not "0".' });
    });
});

describe('the one --kv-type grammar', () => {
    test('f16, q8_0 and q4_0, the settings panel\'s cache types; anything else refused in one sentence', () => {
        assert.deepEqual(['f16', 'q8_0', 'q4_0'].map(parseKvTypeFlag), ['f16', 'q8_0', 'q4_0']);
        assert.throws(() => parseKvTypeFlag('q5_1'), (error: HeadroomError) => error.code === 'BAD_REQUEST' && error.message === '--kv-type must be f16, q8_0, q4_0, not "q5_1".');
    });
});
