// Builds node-llama-cpp's bundled llama.cpp with our patches (native/patches/*.patch) as a
// node-llama-cpp local build. The engine host then loads it (see electron/engine/kv/native.ts)
// and falls back to the stock prebuilt binary when it is missing.
//
//   npm run build:native                 # CPU
//   npm run build:native -- --gpu cuda   # or vulkan, metal
//
// No network: the llama.cpp source comes from the git bundle inside node-llama-cpp.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BUILD_CMAKE_OPTION } from '../engine/kv/native.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const patchesDir = path.join(root, 'native', 'patches');
const llamaCppDir = path.join(root, 'node_modules', 'node-llama-cpp', 'llama', 'llama.cpp');
const cli = path.join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'node-llama-cpp.cmd' : 'node-llama-cpp');

const GPUS = ['false', 'cuda', 'vulkan', 'metal'] as const;
const { values } = parseArgs({ options: { gpu: { type: 'string', default: 'false' } } });
const gpu = values.gpu ?? 'false';
if (!(GPUS as readonly string[]).includes(gpu)) {
    console.error(`--gpu must be one of ${GPUS.join(', ')}, not ${gpu}`);
    process.exit(2);
}

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): void {
    console.log(`$ ${[command, ...args].join(' ')}`);
    const result = spawnSync(command, args, {
        cwd: options.cwd ?? root, env: options.env ?? process.env, stdio: 'inherit', shell: process.platform === 'win32',
    });
    if (result.status !== 0) {
        console.error(`failed (${result.status ?? result.signal}): ${command} ${args.join(' ')}`);
        process.exit(1);
    }
}

// 1. A fresh copy of the exact llama.cpp node-llama-cpp ships (its own patches applied).
run(cli, ['source', 'download', '--gpu', gpu, '--skipBuild', '--noUsageExample']);

// 2. Our patches, in order; `git apply --check` first so a mismatch fails before touching files.
const patches = readdirSync(patchesDir).filter((name) => name.endsWith('.patch')).sort();
for (const name of patches) {
    const file = path.join(patchesDir, name);
    run('git', ['apply', '--check', file], { cwd: llamaCppDir });
    run('git', ['apply', '--whitespace=nowarn', file], { cwd: llamaCppDir });
}

// 3. The local build, tagged with our CMake option so it never shadows the stock binary.
run(cli, ['source', 'build', '--gpu', gpu, '--noUsageExample'], {
    env: { ...process.env, [`NODE_LLAMA_CPP_CMAKE_OPTION_${BUILD_CMAKE_OPTION}`]: 'ON' },
});

console.log(`Built llama.cpp with ${patches.length} Headroom patches (gpu: ${gpu}).`);
