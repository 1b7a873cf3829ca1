// Every command answers --help in one grammar (common/cliHelp.ts): a usage line, what it does,
// then its options, each with its value, default and whether it is required; an unknown option is
// refused with a non-zero exit and nothing on stdout. Each command runs as a person runs it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));

function run(file: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        const child = spawn(process.execPath, [path.join(root, file), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
}

const COMMANDS: Record<string, string> = {
    'cli/ask.ts': 'npm run ask', 'cli/plan.ts': 'npm run plan', 'cli/models.ts': 'npm run models', 'server/serve.ts': 'npm run serve',
    'bench/niahCli.ts': 'npm run niah', 'bench/evalCli.ts': 'npm run eval', 'bench/kvBenchCli.ts': 'npm run bench:kv',
    'bench/profileCli.ts': 'npm run profile', 'bench/profileTimeCli.ts': 'node bench/profileTimeCli.ts',
    'bench/ubatchBench.ts': 'node bench/ubatchBench.ts', 'bench/offloadCheck.ts': 'node bench/offloadCheck.ts',
    'bench/kvTable.ts': 'node bench/kvTable.ts', 'bench/extractSpeed.ts': 'node bench/extractSpeed.ts', 'bench/followUp.ts': 'node bench/followUp.ts',
    'bench/liveStats.ts': 'node bench/liveStats.ts', 'test/tools/shapeGguf.ts': 'node test/tools/shapeGguf.ts', 'bench/gpu/makePolicies.ts': 'node bench/gpu/makePolicies.ts',
};

describe('--help on every command', () => {
    for (const [file, command] of Object.entries(COMMANDS)) {
        test(`${command}`, async () => {
            const [help, short, wrong] = await Promise.all([run(file, ['--help']), run(file, ['-h']), run(file, ['--no-such-option'])]);
            assert.equal(help.code, 0, help.stderr);
            assert.ok(help.stdout.startsWith(`Usage: ${command}`), help.stdout);
            assert.match(help.stdout, /\n\nOptions:\n( {2}-.*\n( {10,}.*\n)?)+$/, 'every line after Options: is an option');
            assert.match(help.stdout, /\n {2}-h, --help +show this help and exit\n$/);
            assert.equal(short.stdout, help.stdout, '-h is --help');
            assert.notEqual(wrong.code, 0);
            assert.match(wrong.stderr, /no-such-option/);
            assert.equal(wrong.stdout, '');
        });
    }
});
