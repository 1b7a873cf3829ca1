// Whether a GPU a GPU build could use is really here. node-llama-cpp's "supported" GPU types say which
// runtimes' libraries are installed, not that a device exists: a CUDA toolkit installed without a card
// (a CI machine, a container given /dev/nvidiactl but no GPU) counts as CUDA. Used by the install's
// choice of build (native/toolchain.ts) and by the engine's note that a GPU goes unused.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import type { GpuBackend } from '../common/contract.ts';

/** Whether an NVIDIA driver lists a GPU: its /proc entries on Linux, else `nvidia-smi -L`. */
export function nvidiaGpuPresent(): boolean {
    if (process.platform === 'linux') {
        try {
            if (readdirSync('/proc/driver/nvidia/gpus').length > 0) return true;
        } catch {
            // no NVIDIA kernel driver loaded
        }
    }
    const list = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 10_000, windowsHide: true });
    return list.status === 0 && /\bGPU \d+:/.test(list.stdout ?? '');
}

/** Whether a GPU for this runtime is here (Vulkan and Metal: a render node on Linux; assumed elsewhere). */
export function gpuDevicePresent(gpu: GpuBackend): boolean {
    if (gpu === 'cuda') return nvidiaGpuPresent();
    if (process.platform !== 'linux') return true;
    // Mesa's llvmpipe is a Vulkan device without a render node: a software renderer, not a GPU.
    return existsSync('/dev/dri') && readdirSync('/dev/dri').some((name) => name.startsWith('renderD'));
}
