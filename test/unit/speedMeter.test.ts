// Generation speed as the gauge shows it: decoding only, from the first token on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpeedMeter } from '../../engine/speedMeter.ts';

test('the first token marks the end of the prompt; speed counts the tokens after it', () => {
    const meter = new SpeedMeter();
    meter.start();
    assert.equal(meter.perSecond, null);
    assert.equal(meter.tokens, 0);
    meter.add(1, 1000);
    assert.equal(meter.perSecond, null, 'one token is no speed yet');
    assert.equal(meter.tokens, 1);
    meter.add(1, 1100);
    meter.add(3, 1500);
    assert.equal(meter.tokens, 5);
    assert.equal(meter.perSecond, 4 / 0.5, '4 tokens in the half second after the first');
    meter.start();
    assert.deepEqual([meter.tokens, meter.perSecond], [0, null], 'a new reply starts from zero');
});

test('tokens in the same instant as the first give no speed rather than infinity', () => {
    const meter = new SpeedMeter();
    meter.start();
    meter.add(1, 2000);
    meter.add(2, 2000);
    assert.equal(meter.perSecond, null);
});
