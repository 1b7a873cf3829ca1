// What the model panel says about the llama.cpp the engine runs: nothing when it is the best
// this machine allows, how to do better when it is not.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { createBackend } from '../../backend/backend.ts';
import { PACKAGED_ENV, profilingNeedsBuild } from '../../common/errors.ts';
import { engineBuildOf } from '../../engine/runtime.ts';

describe('the engine build and its note', () => {
    test('our build on the GPU, or on a machine with no GPU: nothing to say', () => {
        assert.equal(engineBuildOf({ headwise: true, requested: 'compressed', backend: 'vulkan', gpuRuntimes: ['vulkan'] }).note, null);
        assert.equal(engineBuildOf({ headwise: true, requested: 'compressed', backend: 'cpu', gpuRuntimes: [], gpuDevices: [] }).note, null);
        assert.equal(engineBuildOf({ headwise: true, requested: 'compressed', backend: 'cpu', gpuRuntimes: ['vulkan'], gpuDevices: [] }).note, null,
            'a Vulkan driver without a GPU (Mesa\'s llvmpipe) is no GPU');
        assert.equal(engineBuildOf({ headwise: true, requested: 'compressed', backend: 'cpu', gpuRuntimes: ['cuda', 'vulkan'], gpuDevices: [] }).note, null,
            'CUDA\'s libraries without a card (a toolkit installed for building) are no GPU');
    });

    test('the note names the GPU that is here, not the first runtime whose libraries are', () => {
        const build = engineBuildOf({ headwise: true, requested: 'compressed', backend: 'cpu', gpuRuntimes: ['cuda', 'vulkan'], gpuDevices: ['vulkan'] });
        assert.match(build.note ?? '', /this machine has a Vulkan GPU\./);
    });

    test('our CPU build on a GPU machine: build it for the GPU, or use the GPU without compression', () => {
        const build = engineBuildOf({ headwise: true, requested: 'compressed', backend: 'cpu', gpuRuntimes: ['cuda', 'vulkan'], gpuDevices: ['cuda', 'vulkan'] });
        assert.equal(build.note, 'Compression runs on the CPU: Headroom\'s engine was built for the CPU only, and this machine has a CUDA GPU. '
            + 'Run `npm run build:native` to build it for the GPU, or use the GPU without compression (Settings → Engine: stock).');
        assert.deepEqual([build.kind, build.backend], ['headwise', 'cpu']);
    });

    test('the stock build: say how to build ours, unless the stock one was asked for', () => {
        assert.match(engineBuildOf({ headwise: false, requested: 'compressed', backend: 'cpu', gpuRuntimes: [] }).note ?? '', /not built here .* Run `npm run build:native`/);
        assert.equal(engineBuildOf({ headwise: false, requested: 'stock', backend: 'vulkan', gpuRuntimes: ['vulkan'] }).note, null);
    });
});

describe('an installed app never says `npm run build:native`', () => {
    test('its notes say what applies to an installed app', () => {
        const notes = [
            engineBuildOf({ headwise: true, requested: 'compressed', backend: 'cpu', gpuRuntimes: ['cuda'], gpuDevices: ['cuda'], packaged: true }),
            engineBuildOf({ headwise: false, requested: 'compressed', backend: 'cpu', gpuRuntimes: [], packaged: true }),
            engineBuildOf({ headwise: false, requested: 'compressed', backend: 'cpu', gpuRuntimes: [], packaged: true, buildFailure: { patch: '0001-x.patch', nodeLlamaCpp: '3.22.1', detail: '' } }),
        ].map((build) => build.note ?? '');
        assert.equal(notes[0], 'Compression runs on the CPU: Headroom\'s engine was built for the CPU only, and this machine has a CUDA GPU. '
            + 'This installation has no GPU build of it; you can use the GPU without compression (Settings → Engine: stock).');
        assert.equal(notes[1], 'Head-level KV compression is unavailable: Headroom\'s engine is missing, so the stock llama.cpp runs; '
            + 'this installation of Headroom has no build of it for this machine; reinstalling Headroom restores it.');
        assert.equal(notes[2], notes[1], 'a build failure is a source checkout\'s: an installed app has none to show');
        for (const note of [...notes, profilingNeedsBuild(true)]) assert.doesNotMatch(note, /npm/);
        assert.match(profilingNeedsBuild(false), /run `npm run build:native`/);
    });

    test('the backend tells the engine hosts of an installed app so, and only those', async () => {
        for (const packaged of [true, false]) {
            const seen: Array<Record<string, string>> = [];
            const dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-packaged-'));
            const backend = createBackend({ dataDir, packaged, spawnHost: (env = {}) => {
                seen.push(env);
                return { pid: null, send: () => {}, onMessage: () => {}, onExit: () => {}, kill: () => {} };
            } });
            backend.dispose();
            await rm(dataDir, { recursive: true, force: true });
            assert.ok(seen.length > 0, 'an engine host was started');
            assert.deepEqual(seen.map((env) => env[PACKAGED_ENV]), seen.map(() => (packaged ? '1' : undefined)));
        }
    });
});
