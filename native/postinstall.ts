// `npm install` ends here: it builds our patched llama.cpp (native/build.ts) for this machine's
// backend, so that `npm start` runs with head-level KV compression, unless it is already built
// from these patches, HEADROOM_SKIP_NATIVE=1 is set, or the tools to build are missing. Without
// the build the app runs on node-llama-cpp's stock binary and says compression is unavailable.
// With HEADROOM_REQUIRE_NATIVE=1 (CI) a build that cannot happen fails the install instead.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILD_CMAKE_OPTION } from '../engine/kv/native.ts';
import { applyNodeLlamaCppPatches, describeFailure, nodeLlamaCppPatches, recordBuildFailure } from './apply.ts';
import { onPath } from './toolchain.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const patchesDir = path.join(root, 'native', 'patches');
const localBuilds = path.join(root, 'node_modules', 'node-llama-cpp', 'llama', 'localBuilds');
/** What the installed build was made from, so a later install knows whether to build again. */
const stampFile = path.join(root, 'native', '.work', 'installed-build.json');
const required = process.env.HEADROOM_REQUIRE_NATIVE === '1';

function say(line: string): void {
    console.log(`Headroom: ${line}`);
}

/** Leaves the install: a missing build is fine for the app, but not where CI requires it. */
function done(line: string, failure = false): never {
    say(line);
    process.exit(failure && required ? 1 : 0);
}

const STOCK = 'the app runs on node-llama-cpp\'s stock llama.cpp, with head-level KV compression marked unavailable';

if (process.env.HEADROOM_SKIP_NATIVE === '1') {
    done(`not building the patched llama.cpp (HEADROOM_SKIP_NATIVE=1): ${STOCK}. Build it any time with \`npm run build:native\`.`);
}

// node-llama-cpp's JavaScript comes fresh with every install of the package: our option and stats go back in
// first (the addon's source with them is what a build compiles).
if (onPath('git')) {
    const { failed } = applyNodeLlamaCppPatches();
    if (failed != null) {
        recordBuildFailure(failed);
        done(`${describeFailure(failed)} So ${STOCK}.`, true);
    }
}

const compilers = process.platform === 'win32' ? ['cl', 'clang-cl', 'g++'] : ['c++', 'g++', 'clang++'];
const missing = [
    ...(onPath('cmake') ? [] : ['cmake']),
    ...(compilers.some((c) => onPath(c)) ? [] : ['a C++ compiler']),
    ...(onPath('git') ? [] : ['git']),
];
if (missing.length > 0) {
    const hint = process.platform === 'linux' ? ' (Debian/Ubuntu: sudo apt-get install cmake g++ git)' : process.platform === 'darwin' ? ' (xcode-select --install, and cmake from Homebrew)' : '';
    const named = missing.length === 1 ? `${missing[0]} is` : `${missing.slice(0, -1).join(', ')} and ${missing.at(-1)} are`;
    done(`${named} missing, so the patched llama.cpp is not built: ${STOCK}. Install ${missing.length === 1 ? 'it' : 'them'}${hint} and run \`npm run build:native\`.`, true);
}

/** Our patches, the build script and node-llama-cpp's version: a change to any means building again. */
function buildInputs(): string {
    const hash = createHash('sha256');
    for (const name of readdirSync(patchesDir).filter((n) => n.endsWith('.patch')).sort()) hash.update(name).update(readFileSync(path.join(patchesDir, name)));
    for (const file of nodeLlamaCppPatches()) hash.update(path.basename(file)).update(readFileSync(file));
    hash.update(readFileSync(path.join(root, 'native', 'build.ts')));
    hash.update(readFileSync(path.join(root, 'node_modules', 'node-llama-cpp', 'package.json')));
    return hash.digest('hex');
}

/** The finished local builds made with our CMake option (native/build.ts), with when they finished. */
function headwiseBuilds(): { dir: string; finishedAt: number }[] {
    if (!existsSync(localBuilds)) return [];
    return readdirSync(localBuilds).flatMap((name) => {
        const dir = path.join(localBuilds, name);
        try {
            const metadata = JSON.parse(readFileSync(path.join(dir, 'Release', '_nlcBuildMetadata.json'), 'utf8')) as { buildOptions?: { customCmakeOptions?: Record<string, string> } };
            if (metadata.buildOptions?.customCmakeOptions?.[BUILD_CMAKE_OPTION] !== 'ON') return [];
            return [{ dir, finishedAt: statSync(path.join(dir, 'buildDone.status')).mtimeMs }];
        } catch {
            return [];
        }
    });
}

const inputs = buildInputs();
const builds = headwiseBuilds();
const stamp = existsSync(stampFile) ? (JSON.parse(readFileSync(stampFile, 'utf8')) as { inputs?: string }).inputs : undefined;
// A build made before this script existed (by `npm run build:native`) counts when it is newer than every patch.
const newestPatch = Math.max(...readdirSync(patchesDir).map((name) => statSync(path.join(patchesDir, name)).mtimeMs));
const current = builds.length > 0 && (stamp === inputs || (stamp == null && builds.some((b) => b.finishedAt >= newestPatch)));
const writeStamp = () => {
    mkdirSync(path.dirname(stampFile), { recursive: true });
    writeFileSync(stampFile, `${JSON.stringify({ inputs, builtAt: new Date().toISOString() })}\n`);
};
if (current) {
    writeStamp();
    done('the patched llama.cpp (head-level KV cache) is already built from these patches.');
}

say('building llama.cpp with Headroom\'s head-level KV cache for this machine, once: a few minutes (about 7 on 2 cores). HEADROOM_SKIP_NATIVE=1 skips it.');
const build = spawnSync(process.execPath, [path.join(root, 'native', 'build.ts')], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
    done(`the patched llama.cpp did not build (see above): ${STOCK}. Fix the cause and run \`npm run build:native\`.`, true);
}
writeStamp();
done('the patched llama.cpp is built: `npm start` runs with head-level KV compression.');
