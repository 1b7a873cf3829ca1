// Settings: every rule enforced, refusals explained with the old value kept, values
// persisted across restarts, and reloads flagged.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { HeadroomError } from '../../common/errors.ts';
import { crossFieldProblems, DEFAULT_SETTINGS } from '../../common/settings.ts';
import { SettingsService } from '../../backend/settings.ts';
import { HeadroomDatabase } from '../../backend/database.ts';

async function freshFile(): Promise<string> {
    return path.join(await mkdtemp(path.join(os.tmpdir(), 'headroom-settings-')), 'headroom.sqlite');
}

describe('settings', () => {
    test('start from the defaults and persist a valid change across restarts', async () => {
        const file = await freshFile();
        const service = new SettingsService(new HeadroomDatabase(file).settings);
        assert.deepEqual(service.settings, DEFAULT_SETTINGS);
        service.update({ contextSize: 4096, kvMode: 'budget', kvBudget: 0.25, appearance: 'dark' });
        const again = new SettingsService(new HeadroomDatabase(file).settings);
        assert.equal(again.settings.contextSize, 4096);
        assert.equal(again.settings.kvBudget, 0.25);
        assert.equal(again.settings.appearance, 'dark');
        assert.equal(new HeadroomDatabase(file).settings.get('settings.kvMode'), 'budget', 'saved in the SQLite settings table');
    });

    const refused: Array<[string, Record<string, unknown>, RegExp]> = [
        ['a negative context', { contextSize: -4096 }, /^Context size: .*previous value is kept/],
        ['a fractional thread count', { threads: 2.5 }, /^Threads: /],
        ['a budget above 1', { kvBudget: 1.5 }, /^Compression budget: must be at most 1/],
        ['a budget of 0', { kvBudget: 0 }, /^Compression budget: must be more than 0/],
        ['a negative sink count', { sinks: -1 }, /^Sinks: /],
        ['a window larger than the context', { contextSize: 1024, window: 2048 }, /^Window: The window \(2048 tokens\) must be smaller than the context \(1024 tokens\)/],
        ['a q8_0 cache without flash attention', { kvCacheType: 'q8_0', flashAttention: 'off' }, /^KV cache type: .*needs flash attention/],
        ['an unknown offload target', { kvOffload: 'disk' }, /^KV offload: /],
        ['an unknown setting', { turbo: true }, /turbo/],
        ['negative GPU layers', { gpuLayers: -3 }, /^GPU layers: /],
    ];
    for (const [what, patch, message] of refused) {
        test(`refuses ${what} with a message and keeps the old values`, async () => {
            const file = await freshFile();
            const service = new SettingsService(new HeadroomDatabase(file).settings);
            service.update({ contextSize: 8192, window: 256 });
            const before = service.settings;
            assert.throws(() => service.update(patch), (error: HeadroomError) => error.code === 'INVALID_SETTINGS' && message.test(error.message));
            assert.deepEqual(service.settings, before);
            assert.deepEqual(new SettingsService(new HeadroomDatabase(file).settings).settings, before, 'nothing refused was saved');
        });
    }

    test('a refusal names the setting at fault, for the panel to show it there', async () => {
        const service = new SettingsService(new HeadroomDatabase(await freshFile()).settings);
        const fieldOf = (patch: Record<string, unknown>) => {
            try {
                service.update(patch);
                return 'accepted';
            } catch (error) {
                return (error as HeadroomError).field;
            }
        };
        assert.equal(fieldOf({ kvBudget: 2 }), 'kvBudget');
        assert.equal(fieldOf({ contextSize: 1024, window: 4096 }), 'window', 'a rule between settings blames the one it names');
        assert.equal(fieldOf({ kvCacheType: 'q8_0', flashAttention: 'off' }), 'kvCacheType');
        assert.equal(fieldOf({ turbo: true }), 'turbo');
    });

    test('rules between settings', () => {
        const at = (patch: Partial<typeof DEFAULT_SETTINGS>) => crossFieldProblems({ ...DEFAULT_SETTINGS, ...patch }).map((p) => p.key);
        assert.deepEqual(at({}), [], 'the defaults are consistent');
        assert.deepEqual(at({ contextSize: 1024, window: 1024 }), ['window', 'sinks'], 'a window as large as the context leaves no room for sinks either');
        assert.deepEqual(at({ contextSize: 1024, window: 1000, sinks: 30 }), ['sinks']);
        assert.deepEqual(at({ contextSize: 1024, window: 1000, sinks: 24 }), []);
        assert.deepEqual(at({ contextSize: null, window: 1 << 20 }), [], 'an automatic context is checked when the model is known');
        assert.deepEqual(at({ kvCacheType: 'q8_0', flashAttention: 'off' }), ['kvCacheType']);
        assert.deepEqual(at({ kvCacheType: 'q8_0', flashAttention: 'auto' }), []);
        assert.deepEqual(at({ kvCacheType: 'f16', flashAttention: 'off' }), []);
    });

    test('a bad value in the file falls back to its default, the rest is kept', async () => {
        const file = await freshFile();
        const store = new HeadroomDatabase(file).settings;
        store.set('settings.kvBudget', 7);
        store.set('settings.threads', 3);
        const service = new SettingsService(new HeadroomDatabase(file).settings);
        assert.equal(service.settings.kvBudget, DEFAULT_SETTINGS.kvBudget);
        assert.equal(service.settings.threads, 3);
    });

    test('changes after a load are flagged as needing a reload; appearance is not', async () => {
        const service = new SettingsService(new HeadroomDatabase(await freshFile()).settings);
        service.markLoaded(service.settings);
        assert.deepEqual(service.update({ appearance: 'light' }).pendingReload, []);
        assert.deepEqual(service.update({ contextSize: 2048, flashAttention: 'on' }).pendingReload, ['contextSize', 'flashAttention']);
        service.markLoaded(service.settings);
        assert.deepEqual(service.state.pendingReload, []);
    });

    test('a change made while a load runs stays pending: what counts is what the load was built from', async () => {
        const service = new SettingsService(new HeadroomDatabase(await freshFile()).settings);
        const builtFrom = service.settings; // the load is built and sent
        service.update({ window: 256 }); // changed while the model loads
        service.markLoaded(builtFrom); // the load finishes
        assert.deepEqual(service.state.pendingReload, ['window']);
        service.markLoaded(null);
        assert.deepEqual(service.state.pendingReload, [], 'nothing is loaded: nothing awaits a reload');
    });
});
