// How the patch series reaches llama.cpp and node-llama-cpp (native/apply.ts): a patch that no
// longer applies is named with the node-llama-cpp version and backed out, and the app says that
// compression is unavailable because the build failed. Real git, on a scratch repository.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { applyLlamaPatches, applyNodeLlamaCppPatches, GIT_IDENTITY } from '../../native/apply.ts';
import { engineBuildOf } from '../../engine/runtime.ts';

function scratchRepo(): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'headroom-patches-'));
    const git = (...args: string[]) => execFileSync('git', [...GIT_IDENTITY, ...args], { cwd: dir, encoding: 'utf8' });
    git('init', '--quiet');
    // lines far enough apart that patches to each merge cleanly
    writeFileSync(path.join(dir, 'cache.cpp'), ['int cells = 32;', ...Array.from({ length: 8 }, (_, i) => `// ${i}`), 'int heads = 8;', ''].join('\n'));
    git('add', '.');
    git('commit', '--quiet', '-m', 'base');
    return dir;
}

/** A patch made against the base: change `from` to `to` in cache.cpp. */
function patchOf(dir: string, name: string, from: string, to: string): string {
    const work = mkdtempSync(path.join(os.tmpdir(), 'headroom-patch-src-'));
    execFileSync('git', ['clone', '--quiet', dir, work]);
    const file = path.join(work, 'cache.cpp');
    writeFileSync(file, execFileSync('cat', [file], { encoding: 'utf8' }).replace(from, to));
    execFileSync('git', [...GIT_IDENTITY, 'commit', '--quiet', '-am', name], { cwd: work });
    const out = mkdtempSync(path.join(os.tmpdir(), 'headroom-patch-out-'));
    execFileSync('git', ['format-patch', '--quiet', '-1', '--output-directory', out], { cwd: work });
    const [patch] = readdirSync(out);
    assert.ok(patch != null);
    return path.join(out, patch);
}

describe('the patch series', () => {
    test('patches apply in order as commits; one that no longer applies is named with the version and backed out', () => {
        const repo = scratchRepo();
        const first = patchOf(repo, 'cells 256', 'cells = 32', 'cells = 256');
        const second = patchOf(repo, 'heads 4', 'heads = 8', 'heads = 4');
        // upstream moved the line the third patch changes
        const third = patchOf(repo, 'heads 2', 'heads = 8', 'heads = 2');
        assert.equal(applyLlamaPatches(repo, [first, second], '3.22.1'), null);
        const failure = applyLlamaPatches(repo, [third], '3.22.1');
        assert.ok(failure != null);
        assert.equal(failure.patch, path.basename(third));
        assert.equal(failure.nodeLlamaCpp, '3.22.1');
        const log = execFileSync('git', ['log', '--format=%s'], { cwd: repo, encoding: 'utf8' }).trim().split('\n');
        assert.deepEqual(log, ['heads 4', 'cells 256', 'base'], 'the applied ones are commits; the broken one left nothing behind');
        assert.equal(execFileSync('git', ['status', '--porcelain'], { cwd: repo, encoding: 'utf8' }), '', 'no half-applied state');
    });

    test('our node-llama-cpp patch is in the installed package (applying again changes nothing)', () => {
        assert.deepEqual(applyNodeLlamaCppPatches(), { applied: [], failed: null });
    });

    test('the app says compression is unavailable because building its engine failed, naming the patch and version', () => {
        const build = engineBuildOf({
            headwise: false, requested: 'compressed', backend: 'cpu', gpuRuntimes: [],
            buildFailure: { patch: '0002-llama-report-the-per-head-KV-cache-through-the-C-API.patch', nodeLlamaCpp: '3.23.0', detail: 'conflict' },
        });
        assert.equal(build.kind, 'stock');
        assert.match(build.note ?? '', /^Head-level KV compression is unavailable: building Headroom's engine failed \(the patch 0002-llama-report-the-per-head-KV-cache-through-the-C-API\.patch does not apply to node-llama-cpp 3\.23\.0\)/);
        assert.doesNotMatch(build.note ?? '', /profile/i);
    });
});
