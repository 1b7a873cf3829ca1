// `npm run ask` exactly as the README shows it: the answer alone on stdout, errors on stderr.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BUILD_ENV } from '../engine/kv/native.ts';
import { haystackPdf, haystackText, passkey } from './support/haystack.ts';
import { ORGANISM } from './support/models.ts';
import { requiresNative } from './support/native.ts';

const root = fileURLToPath(new URL('../', import.meta.url));

function ask(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn('npm', ['run', '--silent', 'ask', '--', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('npm run ask', () => {
    const lantern = passkey('silver lantern', '73914');
    const harbor = passkey('green harbor', '50628');
    let dir: string;
    before(async () => {
        dir = await mkdtemp(path.join(os.tmpdir(), 'headroom-ask-test-'));
        await writeFile(path.join(dir, 'handbook.pdf'), haystackPdf(lantern.fact, 1400));
        await writeFile(path.join(dir, 'notes.md'), `# Harbor notes\n\n${haystackText(harbor.fact, 1000)}\n`);
    });

    test('prints only the answer, read from several documents', async () => {
        const result = await ask(['--model', ORGANISM, '--doc', path.join(dir, 'handbook.pdf'), '--doc', path.join(dir, 'notes.md'), '--question', harbor.question]);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, `${harbor.fact}\n`);
    });

    test('an unreadable document is an error on stderr with a non-zero exit and nothing on stdout', async () => {
        const result = await ask(['--model', ORGANISM, '--doc', fileURLToPath(new URL('./fixtures/encrypted.pdf', import.meta.url)), '--question', lantern.question]);
        assert.equal(result.code, 1);
        assert.equal(result.stdout, '');
        assert.match(result.stderr, /^headroom ask: encrypted\.pdf is password-protected\./m);
    });

    test('--kv 0.25 answers the same through the compressed cache', requiresNative(), async () => {
        const args = ['--model', ORGANISM, '--doc', path.join(dir, 'notes.md'), '--question', harbor.question, '--kv', '0.25'];
        const result = await ask(args);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, `${harbor.fact}\n`);
        // The engine says on stderr when it could not compress: here it did not have to.
        assert.doesNotMatch(result.stderr, /Headroom KV compression:/);
        const stock = await ask(args, { [BUILD_ENV]: 'stock' });
        assert.equal(stock.stdout, `${harbor.fact}\n`, 'the stock binary answers with the full cache');
        assert.match(stock.stderr, /Headroom KV compression: The stock llama\.cpp runs, as chosen in Settings \(Engine\)/, 'and says why it did not compress');
    });

    test('bad flags and missing files are refused', async () => {
        const bad = await ask(['--model', ORGANISM, '--doc', path.join(dir, 'notes.md'), '--question', 'x', '--kv', 'half']);
        assert.equal(bad.code, 2);
        assert.equal(bad.stdout, '');
        assert.match(bad.stderr, /--kv must be off, auto or a budget in \(0, 1\], not "half"/);
        const missing = await ask(['--model', ORGANISM, '--question', 'x', '--doc', path.join(dir, 'nope.pdf')]);
        assert.equal(missing.code, 2);
        assert.match(missing.stderr, /no document at .*nope\.pdf/);
    });
});
