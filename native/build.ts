// Builds node-llama-cpp's bundled llama.cpp with our patches (native/patches/*.patch) as a
// node-llama-cpp local build, for the GPU backend this machine can build for. The engine host
// loads it (see engine/kv/native.ts) and says so when it is missing.
//
//   npm run build:native                  # CUDA, Vulkan or Metal when their toolchain is here, else the CPU
//   npm run build:native -- --gpu vulkan  # or cuda, metal, false (the CPU)
//   npm run build:native -- --export-patches   # native/patches from the patch commits of the source copy
//
// No network: the llama.cpp source comes from the git bundle inside node-llama-cpp.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BUILD_CMAKE_OPTION } from '../engine/kv/native.ts';
import { applyLlamaPatches, applyNodeLlamaCppPatches, describeFailure, GIT_IDENTITY, nodeLlamaCppVersion, recordBuildFailure } from './apply.ts';
import { buildGpuCandidates, NATIVE_GPUS, thisBuildMachine, type BuildGpuChoice, type NativeGpu } from './toolchain.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const patchesDir = path.join(root, 'native', 'patches');
const llamaCppDir = path.join(root, 'node_modules', 'node-llama-cpp', 'llama', 'llama.cpp');
const cli = path.join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'node-llama-cpp.cmd' : 'node-llama-cpp');
// The patches are commits on top of this one in the source copy, so they can be edited and exported.
const BASE_TAG = 'headroom-base';

const { values } = parseArgs({ options: { gpu: { type: 'string' }, 'export-patches': { type: 'boolean', default: false } } });

/** Stops the build, remembering why for the app (it says compression is unavailable because the build failed). */
function fail(line: string, patch: string | null = null): never {
    console.error(line);
    recordBuildFailure({ patch, nodeLlamaCpp: nodeLlamaCppVersion(), detail: line });
    process.exit(1);
}

type RunOptions = { cwd?: string; env?: NodeJS.ProcessEnv; quiet?: boolean };

function tryRun(command: string, args: string[], options: RunOptions = {}): { ok: boolean; stdout: string; failure: string } {
    if (!options.quiet) console.log(`$ ${[command, ...args].join(' ')}`);
    const result = spawnSync(command, args, {
        cwd: options.cwd ?? root, env: options.env ?? process.env, shell: process.platform === 'win32',
        stdio: options.quiet ? ['ignore', 'pipe', 'inherit'] : 'inherit', encoding: 'utf8',
    });
    return { ok: result.status === 0, stdout: result.stdout ?? '', failure: `failed (${result.status ?? result.signal}): ${command} ${args.join(' ')}` };
}

function run(command: string, args: string[], options: RunOptions = {}): string {
    const result = tryRun(command, args, options);
    if (!result.ok) fail(result.failure);
    return result.stdout;
}

const git = (args: string[], quiet = false) => run('git', [...GIT_IDENTITY, ...args], { cwd: llamaCppDir, quiet });

if (values['export-patches']) {
    if (!existsSync(path.join(llamaCppDir, '.git'))) {
        console.error('No llama.cpp source copy: run `npm run build:native` first, then commit your changes there.');
        process.exit(1);
    }
    for (const name of readdirSync(patchesDir).filter((n) => n.endsWith('.patch'))) rmSync(path.join(patchesDir, name));
    git(['format-patch', '--zero-commit', '--no-signature', '--output-directory', patchesDir, `${BASE_TAG}..HEAD`]);
    console.log(`Exported ${readdirSync(patchesDir).filter((n) => n.endsWith('.patch')).length} patches to native/patches.`);
    process.exit(0);
}

// The backends to try, best first: the one asked for, or this machine's GPU backends and then the CPU
// (a GPU build that fails, e.g. a toolkit too old for the card, leaves a CPU build rather than none).
let candidates: BuildGpuChoice[];
if (values.gpu != null) {
    if (!(NATIVE_GPUS as readonly string[]).includes(values.gpu)) {
        console.error(`--gpu must be one of ${NATIVE_GPUS.join(', ')}, not ${values.gpu}`);
        process.exit(2);
    }
    candidates = [{ gpu: values.gpu as NativeGpu, reason: 'asked for with --gpu.' }];
} else {
    candidates = buildGpuCandidates(await thisBuildMachine());
}
const backendName = (gpu: NativeGpu) => gpu === 'false' ? 'the CPU' : gpu;

const started = performance.now();

// 1. A fresh copy of the exact llama.cpp node-llama-cpp ships, its own changes committed as the base.
run(cli, ['source', 'download', '--gpu', candidates[0]?.gpu ?? 'false', '--skipBuild', '--noUsageExample']);
git(['add', '--all']);
git(['commit', '--quiet', '--allow-empty', '--message', 'node-llama-cpp: its own changes to the bundled release']);
git(['tag', '--force', BASE_TAG], true);

// 2. Our patches, in order, as commits, with a three-way merge where the context moved; a patch that
//    still does not apply stops here, before anything is built, named with the version it missed.
const patches = readdirSync(patchesDir).filter((name) => name.endsWith('.patch')).sort();
const broken = applyLlamaPatches(llamaCppDir, patches.map((name) => path.join(patchesDir, name)), nodeLlamaCppVersion());
if (broken != null) fail(`${broken.detail}\nHeadroom: ${describeFailure(broken)}`, broken.patch);

// 3. Our changes to node-llama-cpp's addon and its JavaScript (the per-head KV option and stats).
const addon = applyNodeLlamaCppPatches();
if (addon.failed != null) fail(`Headroom: ${describeFailure(addon.failed)}\n${addon.failed.detail}`, addon.failed.patch);

// 4. The local build, tagged with our CMake option so it never shadows the stock binary.
let gpu: NativeGpu | null = null;
for (const [index, candidate] of candidates.entries()) {
    console.log(`Building for ${backendName(candidate.gpu)}: ${candidate.reason}`);
    const build = tryRun(cli, ['source', 'build', '--gpu', candidate.gpu, '--noUsageExample'], {
        env: { ...process.env, [`NODE_LLAMA_CPP_CMAKE_OPTION_${BUILD_CMAKE_OPTION}`]: 'ON' },
    });
    if (build.ok) {
        gpu = candidate.gpu;
        break;
    }
    const next = candidates[index + 1];
    if (next == null) fail(build.failure);
    console.log(`Headroom: the build for ${backendName(candidate.gpu)} failed (above); trying ${backendName(next.gpu)} instead.`);
}
if (gpu == null) throw new Error('unreachable: every candidate either built or failed the build');
recordBuildFailure(null);

const seconds = Math.round((performance.now() - started) / 1000);
console.log(`Built llama.cpp with ${patches.length} Headroom patches for ${backendName(gpu)} in ${Math.floor(seconds / 60)} m ${seconds % 60} s.`);
