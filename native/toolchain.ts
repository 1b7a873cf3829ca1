// Which backend `npm run build:native` builds for: the GPU backend node-llama-cpp would use on this
// machine (CUDA, Vulkan, Metal), when the tools to build it are installed; otherwise the CPU, with
// what to install to get the GPU one.
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import { getLlamaGpuTypes } from 'node-llama-cpp';

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

export async function chooseBuildGpu(): Promise<BuildGpuChoice> {
    if (process.platform === 'darwin' && process.arch === 'arm64') return { gpu: 'metal', reason: 'Apple silicon has Metal.' };
    // the GPU runtimes node-llama-cpp finds here, best first (e.g. ['cuda', 'vulkan', false])
    const runtimes = await getLlamaGpuTypes('supported');
    const skipped: string[] = [];
    if (runtimes.includes('cuda')) {
        const missing = missingCudaTools();
        if (missing.length === 0) return { gpu: 'cuda', reason: 'a CUDA GPU and the CUDA toolkit are here.' };
        skipped.push(`CUDA needs ${missing.join(', ')}`);
    }
    if (runtimes.includes('vulkan')) {
        const missing = missingVulkanTools();
        if (missing.length === 0) return { gpu: 'vulkan', reason: 'a Vulkan driver and its build tools are here.' };
        skipped.push(`Vulkan needs ${missing.join(', ')} (${VULKAN_PACKAGES})`);
    }
    if (skipped.length === 0) return { gpu: 'false', reason: 'no GPU runtime (CUDA, Vulkan) was found on this machine.' };
    return { gpu: 'false', reason: `this machine has a GPU runtime but not the tools to build for it: ${skipped.join('; ')}. Install them and run \`npm run build:native\` again to compress on the GPU.` };
}
