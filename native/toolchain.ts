// Which backend `npm run build:native` builds for: the GPU backend node-llama-cpp would use on this
// machine (CUDA, Vulkan, Metal), when the tools to build it are installed; otherwise the CPU, with
// what to install to get the GPU one.
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import { getLlamaGpuTypes } from 'node-llama-cpp';
import { nvidiaGpuPresent } from '../engine/gpuDevices.ts';

export const NATIVE_GPUS = ['false', 'cuda', 'vulkan', 'metal'] as const;
export type NativeGpu = (typeof NATIVE_GPUS)[number];

export interface BuildGpuChoice {
    gpu: NativeGpu;
    /** One line for the person who ran the build. */
    reason: string;
}

/** Whether a program is on the PATH (or in one of `extraDirs`). */
export function onPath(program: string, extraDirs: string[] = []): boolean {
    const names = process.platform === 'win32' ? [`${program}.exe`, `${program}.cmd`] : [program];
    const dirs = [...(process.env.PATH ?? '').split(path.delimiter), ...extraDirs].filter(Boolean);
    return dirs.some((dir) => names.some((name) => {
        try {
            accessSync(path.join(dir, name), constants.X_OK);
            return true;
        } catch {
            return false;
        }
    }));
}

/** What a CUDA build needs and this machine lacks. */
export function missingCudaTools(env: NodeJS.ProcessEnv = process.env): string[] {
    const homes = [env.CUDA_PATH, env.CUDA_HOME, '/usr/local/cuda'].filter((d): d is string => d != null);
    return onPath('nvcc', homes.map((home) => path.join(home, 'bin'))) ? [] : ['the CUDA toolkit (nvcc)'];
}

/** What a Vulkan build needs and this machine lacks: the shader compiler, the headers, SPIR-V headers. */
export function missingVulkanTools(env: NodeJS.ProcessEnv = process.env): string[] {
    const sdk = env.VULKAN_SDK;
    const includeDirs = [...(sdk != null ? [path.join(sdk, 'include')] : []), '/usr/include', '/usr/local/include'];
    const missing: string[] = [];
    if (!onPath('glslc', sdk != null ? [path.join(sdk, 'bin')] : [])) missing.push('glslc');
    if (!includeDirs.some((dir) => existsSync(path.join(dir, 'vulkan', 'vulkan.h')))) missing.push('the Vulkan headers (libvulkan-dev)');
    const spirvConfigs = [
        ...(sdk != null ? [path.join(sdk, 'lib', 'cmake', 'SPIRV-Headers'), path.join(sdk, 'share', 'cmake', 'SPIRV-Headers')] : []),
        '/usr/share/cmake/SPIRV-Headers', '/usr/lib/cmake/SPIRV-Headers', '/usr/local/share/cmake/SPIRV-Headers',
    ];
    if (!spirvConfigs.some((dir) => existsSync(dir))) missing.push('SPIR-V headers (spirv-headers)');
    return missing;
}

const VULKAN_PACKAGES = 'Debian/Ubuntu: sudo apt-get install glslc libvulkan-dev spirv-headers; elsewhere the Vulkan SDK';

/** What the choice looks at; tests pass their own. */
export interface BuildMachine {
    platform: NodeJS.Platform;
    arch: string;
    /** node-llama-cpp's supported GPU runtimes here, best first (e.g. ['cuda', 'vulkan', false]). */
    runtimes: readonly (string | false)[];
    nvidiaGpu: boolean;
    missingCuda: string[];
    missingVulkan: string[];
}

export async function thisBuildMachine(): Promise<BuildMachine> {
    return {
        platform: process.platform, arch: process.arch, runtimes: await getLlamaGpuTypes('supported'),
        nvidiaGpu: nvidiaGpuPresent(), missingCuda: missingCudaTools(), missingVulkan: missingVulkanTools(),
    };
}

/**
 * The backends to build for, best first, each with why: the build tries the next when one fails to
 * build, and the CPU, last, always. The first one's reason says why the GPU ones before it were skipped.
 */
export function buildGpuCandidates(machine: BuildMachine): BuildGpuChoice[] {
    if (machine.platform === 'darwin' && machine.arch === 'arm64') return [{ gpu: 'metal', reason: 'Apple silicon has Metal.' }, { gpu: 'false', reason: 'the Metal build failed.' }];
    const candidates: BuildGpuChoice[] = [];
    const noGpu: string[] = []; // a runtime's libraries without the device
    const toInstall: string[] = []; // a device without the tools to build for it
    if (machine.runtimes.includes('cuda')) {
        if (!machine.nvidiaGpu) noGpu.push('CUDA\'s libraries are here, but no NVIDIA driver lists a GPU');
        else if (machine.missingCuda.length > 0) toInstall.push(`CUDA needs ${machine.missingCuda.join(', ')}`);
        else candidates.push({ gpu: 'cuda', reason: 'a CUDA GPU and the CUDA toolkit are here.' });
    }
    if (machine.runtimes.includes('vulkan')) {
        if (machine.missingVulkan.length > 0) toInstall.push(`Vulkan needs ${machine.missingVulkan.join(', ')} (${VULKAN_PACKAGES})`);
        else candidates.push({ gpu: 'vulkan', reason: 'a Vulkan driver and its build tools are here.' });
    }
    const skipped = [...noGpu, ...toInstall];
    const cpuReason = candidates.length > 0
        ? `the ${candidates.map((c) => c.gpu === 'cuda' ? 'CUDA' : 'Vulkan').join(' and ')} build failed.`
        : toInstall.length > 0
            ? `this machine has a GPU but not the tools to build for it: ${skipped.join('; ')}. Install them and run \`npm run build:native\` again to compress on the GPU.`
            : `no GPU was found on this machine${noGpu.length > 0 ? ` (${noGpu.join('; ')})` : ''}.`;
    const [first] = candidates;
    if (first != null && skipped.length > 0) first.reason = `${first.reason} (Skipped: ${skipped.join('; ')}.)`;
    return [...candidates, { gpu: 'false', reason: cpuReason }];
}
