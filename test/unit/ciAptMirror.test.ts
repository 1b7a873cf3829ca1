// .ci/run names no package mirror: the bookworm-backports source it adds for Mesa is made from the
// mirror the machine's own apt sources use, which .ci/apt-mirror reads. The repository keeps no
// package registry's host name in any file.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const scratch = await mkdtemp(path.join(os.tmpdir(), 'headroom-apt-'));
after(() => rm(scratch, { recursive: true, force: true }));

/** What .ci/apt-mirror prints for an apt folder holding these files. */
async function mirrorOf(files: Record<string, string>, codename = 'bookworm'): Promise<string> {
    const apt = await mkdtemp(path.join(scratch, 'etc-apt-'));
    await mkdir(path.join(apt, 'sources.list.d'));
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(apt, name), text);
    return execFileSync('bash', [path.join(root, '.ci', 'apt-mirror'), codename, apt], { encoding: 'utf8' });
}

describe('CI takes its apt mirror from the machine', () => {
    test('a deb822 source serving the release gives its URI and keyring', async () => {
        const sources = [
            '# a comment\nTypes: deb-src\nURIs: http://src.mirror.test/debian\nSuites: bookworm\nComponents: main\n',
            'Types: deb\nURIs: http://off.mirror.test/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n',
            'Types: deb\nURIs: http://security.mirror.test/debian-security\nSuites: bookworm-security\nComponents: main\n',
            'Types: deb\n# where it was snapshotted\nURIs: http://mirror.test/debian http://second.mirror.test/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
        ].join('\n');
        assert.equal(await mirrorOf({ 'sources.list.d/debian.sources': sources }), 'http://mirror.test/debian\t/usr/share/keyrings/debian-archive-keyring.gpg\n');
    });

    test('a one-line source, with or without options', async () => {
        assert.equal(await mirrorOf({ 'sources.list': '# deb http://old.test/debian bookworm main\ndeb http://plain.test/debian bookworm main contrib\n' }), 'http://plain.test/debian\t\n');
        assert.equal(await mirrorOf({ 'sources.list.d/local.list': 'deb [arch=amd64 signed-by=/etc/keys/debian.gpg] http://options.test/debian bookworm main\n' }),
            'http://options.test/debian\t/etc/keys/debian.gpg\n');
    });

    test('nothing where no source serves the release', async () => {
        assert.equal(await mirrorOf({ 'sources.list': 'deb http://plain.test/debian trixie main\n' }), '');
        assert.equal(await mirrorOf({}), '');
    });

    test('.ci/run adds backports from that mirror and names none itself', () => {
        const run = readFileSync(path.join(root, '.ci', 'run'), 'utf8');
        assert.match(run, /\.ci\/apt-mirror bookworm/);
        assert.match(run, /Suites: bookworm-backports/);
    });

    test('no file in the repository names a package registry\'s host', () => {
        // Built from parts, so that this file names none either.
        const hosts = [['deb', 'debian', 'org'], ['registry', 'npmjs', 'org'], ['registry', 'yarnpkg', 'com'], ['pypi', 'org'], ['files', 'pythonhosted', 'org'],
            ['security', 'debian', 'org'], ['archive', 'ubuntu', 'com'], ['nodejs', 'org/dist'], ['crates', 'io'], ['proxy', 'golang', 'org'], ['npmjs', 'com']].map((parts) => parts.join('.'));
        const grep = spawnSync('git', ['grep', '--untracked', '-I', '-l', '-F', ...hosts.flatMap((host) => ['-e', host]), '--', '.'], { cwd: root, encoding: 'utf8' });
        assert.equal(grep.status, 1, `git grep found them (or failed: ${grep.stderr}) in:\n${grep.stdout}`);
    });
});
