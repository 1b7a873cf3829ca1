// What the model panel says about the llama.cpp the engine runs: nothing when it is the best
// this machine allows, how to do better when it is not.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { engineBuildOf } from '../../engine/runtime.ts';

describe('the engine build and its note', () => {
    test('our build on the GPU, or on a machine with no GPU: nothing to say', () => {
        assert.equal(engineBuildOf({ headwise: true, requested: 'compressed', backend: 'vulkan', gpuRuntimes: ['vulkan'] }).note, null);
        assert.equal(engineBuildOf({ headwise: true, requested: 'compressed', backend: 'cpu', gpuRuntimes: [], hasGpuDevice: false }).note, null);
        assert.equal(engineBuildOf({ headwise: true, requested: 'compressed', backend: 'cpu', gpuRuntimes: ['vulkan'], hasGpuDevice: false }).note, null,
            'a Vulkan driver without a GPU (Mesa\'s llvmpipe) is no GPU');
    });

    test('our CPU build on a GPU machine: build it for the GPU, or use the GPU without compression', () => {
        const build = engineBuildOf({ headwise: true, requested: 'compressed', backend: 'cpu', gpuRuntimes: ['cuda', 'vulkan'], hasGpuDevice: true });
        assert.equal(build.note, 'Compression runs on the CPU: Headroom\'s engine was built for the CPU only, and this machine has a CUDA GPU. '
            + 'Run `npm run build:native` to build it for the GPU, or use the GPU without compression (Settings → Engine: stock).');
        assert.deepEqual([build.kind, build.backend], ['headwise', 'cpu']);
    });

    test('the stock build: say how to build ours, unless the stock one was asked for', () => {
        assert.match(engineBuildOf({ headwise: false, requested: 'compressed', backend: 'cpu', gpuRuntimes: [] }).note ?? '', /not built here .* Run `npm run build:native`/);
        assert.equal(engineBuildOf({ headwise: false, requested: 'stock', backend: 'vulkan', gpuRuntimes: ['vulkan'] }).note, null);
    });
});
