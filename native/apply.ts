// Our changes to node-llama-cpp itself (native/node-llama-cpp/*.patch: the addon's source and its
// dist/ JavaScript), applied to the installed package by npm's postinstall and by native/build.ts.
// Applying is idempotent: a patch that is already in place is left as it is. A patch that does
// not apply (a node-llama-cpp update) is named, with the version, and recorded for the app.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILD_FAILURE_FILE, type BuildFailure } from '../engine/kv/native.ts';

export const root = fileURLToPath(new URL('..', import.meta.url));
export const nodeLlamaCppDir = path.join(root, 'node_modules', 'node-llama-cpp');
const patchesDir = path.join(root, 'native', 'node-llama-cpp');

/** The installed node-llama-cpp's version. */
export function nodeLlamaCppVersion(): string {
    return (JSON.parse(readFileSync(path.join(nodeLlamaCppDir, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Our node-llama-cpp patches, in order. */
export function nodeLlamaCppPatches(): string[] {
    return readdirSync(patchesDir).filter((name) => name.endsWith('.patch')).sort().map((name) => path.join(patchesDir, name));
}

const gitApply = (args: string[]) => spawnSync('git', ['apply', ...args], { cwd: nodeLlamaCppDir, encoding: 'utf8' });

export const GIT_IDENTITY = ['-c', 'user.name=Headroom', '-c', 'user.email=headroom@localhost', '-c', 'commit.gpgsign=false'];

/**
 * Applies llama.cpp patches to a source checkout in order, each as a commit (`git am -3`: a patch whose
 * context moved is merged three ways). A patch that still does not apply is backed out and named.
 */
export function applyLlamaPatches(repoDir: string, patches: readonly string[], nodeLlamaCpp: string): BuildFailure | null {
    for (const patch of patches) {
        const result = spawnSync('git', [...GIT_IDENTITY, 'am', '-3', '--quiet', '--whitespace=nowarn', patch], { cwd: repoDir, encoding: 'utf8' });
        if (result.status !== 0) {
            spawnSync('git', ['am', '--abort'], { cwd: repoDir });
            return { patch: path.basename(patch), nodeLlamaCpp, detail: `${result.stdout}${result.stderr}`.trim().slice(0, 2000) };
        }
    }
    return null;
}

/** Applies what is not applied yet; returns the patches applied now, or the one that does not apply. */
export function applyNodeLlamaCppPatches(): { applied: string[]; failed: BuildFailure | null } {
    const applied: string[] = [];
    for (const patch of nodeLlamaCppPatches()) {
        if (gitApply(['--reverse', '--check', patch]).status === 0) continue; // already in place
        const result = gitApply([patch]);
        if (result.status !== 0) {
            return { applied, failed: { patch: path.basename(patch), nodeLlamaCpp: nodeLlamaCppVersion(), detail: `${result.stderr}`.trim().slice(0, 2000) } };
        }
        applied.push(path.basename(patch));
    }
    return { applied, failed: null };
}

/** Remembers why the patched engine could not be built, so the app can say so (engine/kv/native.ts reads it). */
export function recordBuildFailure(failure: BuildFailure | null): void {
    const file = path.join(root, BUILD_FAILURE_FILE);
    if (failure == null) {
        rmSync(file, { force: true });
        return;
    }
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify({ ...failure, at: new Date().toISOString() }, null, 2)}\n`);
}

/** One line for the person installing: which patch, against which node-llama-cpp, and what to do. */
export function describeFailure(failure: BuildFailure): string {
    return `the patch ${failure.patch} does not apply to node-llama-cpp ${failure.nodeLlamaCpp}: rebase it on this version `
        + '(native/README.md, "Working on the patches") or install the node-llama-cpp version package-lock.json names.';
}
