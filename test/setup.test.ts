// Setting up from the README: `npm install` then `npm start`. The install builds the patched
// llama.cpp itself (native/postinstall.ts) or says in one line why not and carries on;
// `.ci/run` performs the README's own commands (and the CPU build besides the GPU one).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../', import.meta.url));
const run = promisify(execFile);
/** An environment with only Node on the PATH: no cmake, no compiler, no git. */
const bare = (extra: Record<string, string> = {}) => ({ PATH: path.dirname(process.execPath), HOME: process.env.HOME ?? '', ...extra });
const postinstall = (env: NodeJS.ProcessEnv) => run(process.execPath, ['native/postinstall.ts'], { cwd: root, env }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
);

/** The commands of the README's Setup block, comments dropped. */
async function readmeSetup(): Promise<string[]> {
    const readme = await readFile(path.join(root, 'README.md'), 'utf8');
    const block = /## Setup[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    return block.split('\n').map((line) => line.replace(/#.*$/, '').trim()).filter(Boolean);
}

describe('setup', () => {
    test('the README sets up in two commands', async () => {
        assert.deepEqual(await readmeSetup(), ['npm install', 'npm start']);
    });

    test('npm install runs the native build step', async () => {
        const manifest = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
        assert.equal(manifest.scripts.postinstall, 'node native/postinstall.ts');
    });

    test('HEADROOM_SKIP_NATIVE=1 skips the build in one line, and the install goes on', async () => {
        const { code, stdout } = await postinstall(bare({ HEADROOM_SKIP_NATIVE: '1' }));
        assert.equal(code, 0);
        assert.equal(stdout, 'Headroom: not building the patched llama.cpp (HEADROOM_SKIP_NATIVE=1): the app runs on node-llama-cpp\'s stock llama.cpp, with head-level KV compression marked unavailable. Build it any time with `npm run build:native`.\n');
    });

    test('without build tools it says which are missing and the install goes on, unless CI requires the build', async () => {
        const { code, stdout } = await postinstall(bare());
        assert.equal(code, 0);
        assert.match(stdout, /^Headroom: cmake, a C\+\+ compiler and git are missing, so the patched llama\.cpp is not built: the app runs on node-llama-cpp's stock llama\.cpp, with head-level KV compression marked unavailable\. Install them .*and run `npm run build:native`\.\n$/);
        const required = await postinstall(bare({ HEADROOM_REQUIRE_NATIVE: '1' }));
        assert.equal(required.code, 1, 'CI fails rather than testing without the build');
    });

    test('.ci/run performs the README\'s setup, then the README\'s checks', async () => {
        const [script, readme] = await Promise.all([readFile(path.join(root, '.ci', 'run'), 'utf8'), readFile(path.join(root, 'README.md'), 'utf8')]);
        const npmCommands = script.split('\n').map((line) => line.trim()).filter((line) => /^npm (install|run|test|start)\b/.test(line))
            // Node itself, when CI's is too old, goes elsewhere (--prefix): not the project's setup.
            .filter((line) => !line.includes('--prefix'));
        const [install, ...checks] = npmCommands;
        assert.equal(install, 'npm install', 'the README\'s install, as written');
        assert.deepEqual(checks.slice(-2), ['npm run lint', 'npm test'], 'ending in the checks the README lists');
        // Anything between (CI's second native build) is a command the README gives a newcomer too.
        for (const command of checks) assert.ok(readme.includes(command), `${command} is in the README`);
    });
});
