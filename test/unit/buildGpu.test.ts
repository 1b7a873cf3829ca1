// Which backends `npm install` builds our llama.cpp for (native/toolchain.ts), best first. The case
// that broke CI: a machine with Debian's CUDA toolkit (so node-llama-cpp counts CUDA as supported)
// but no NVIDIA GPU must build for Vulkan, not try CUDA and fail the install.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { existsSync } from 'node:fs';
import { nvidiaGpuPresent } from '../../engine/gpuDevices.ts';
import { buildGpuCandidates, onPath, type BuildMachine } from '../../native/toolchain.ts';

const linux: BuildMachine = { platform: 'linux', arch: 'x64', runtimes: ['cuda', 'vulkan', false], nvidiaGpu: true, missingCuda: [], missingVulkan: [] };
const order = (machine: BuildMachine) => buildGpuCandidates(machine).map((c) => c.gpu);

describe('the backends a build tries', () => {
    test('an NVIDIA GPU with the toolkit: CUDA, then Vulkan, then the CPU', () => {
        assert.deepEqual(order(linux), ['cuda', 'vulkan', 'false']);
        assert.match(buildGpuCandidates(linux)[2]?.reason ?? '', /CUDA and Vulkan build failed/);
    });

    test('the CUDA toolkit without an NVIDIA GPU: Vulkan first, and it says why CUDA was skipped', () => {
        const candidates = buildGpuCandidates({ ...linux, nvidiaGpu: false });
        assert.deepEqual(candidates.map((c) => c.gpu), ['vulkan', 'false']);
        assert.match(candidates[0]?.reason ?? '', /Skipped: CUDA's libraries are here, but no NVIDIA driver lists a GPU/);
    });

    test('a GPU without its build tools: the CPU, with what to install', () => {
        const candidates = buildGpuCandidates({ ...linux, missingCuda: ['the CUDA toolkit (nvcc)'], missingVulkan: ['glslc'] });
        assert.deepEqual(candidates.map((c) => c.gpu), ['false']);
        assert.match(candidates[0]?.reason ?? '', /CUDA needs the CUDA toolkit \(nvcc\); Vulkan needs glslc \(Debian\/Ubuntu: sudo apt-get install/);
    });

    test('no GPU runtime at all: the CPU', () => {
        const candidates = buildGpuCandidates({ ...linux, runtimes: [false], nvidiaGpu: false });
        assert.deepEqual(candidates.map((c) => c.gpu), ['false']);
        assert.match(candidates[0]?.reason ?? '', /^no GPU was found on this machine\.$/);
    });

    test('CUDA\'s libraries alone: the CPU, saying no GPU was found', () => {
        const candidates = buildGpuCandidates({ ...linux, runtimes: ['cuda', false], nvidiaGpu: false });
        assert.deepEqual(candidates.map((c) => c.gpu), ['false']);
        assert.match(candidates[0]?.reason ?? '', /no GPU was found on this machine \(CUDA's libraries are here, but no NVIDIA driver lists a GPU\)/);
    });

    test('Apple silicon: Metal, then the CPU', () => {
        assert.deepEqual(order({ ...linux, platform: 'darwin', arch: 'arm64', runtimes: ['metal', false] }), ['metal', 'false']);
    });

    test('a machine without an NVIDIA driver reports no NVIDIA GPU, CUDA toolkit or /dev/nvidiactl or not', (t) => {
        if (existsSync('/proc/driver/nvidia') || onPath('nvidia-smi')) return t.skip('this machine has an NVIDIA driver');
        assert.equal(nvidiaGpuPresent(), false);
    });
});
