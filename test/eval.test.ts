// `npm run eval` for real: organism.gguf through the engine host, as a user runs the CLI. The
// full cache and the head plan answer the same generated chats; what eval.json says is checked
// against its schema and against what ran (the plan's heads, its KV bytes, follow-ups reusing the
// document), and a budget that keeps no head full at a length is recorded, not run.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { EVAL_TASKS, EvalResult } from '../common/eval.ts';
import type { HeadProfile } from '../common/kv/policy.ts';
import { modelSha256 } from '../engine/kv/profiles.ts';
import { ORGANISM } from './support/models.ts';
import { requiresNative } from './support/native.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

async function evalCli(args: string[]) {
    try {
        const { stdout, stderr } = await run(process.execPath, [path.join(root, 'bench', 'evalCli.ts'), ...args], { cwd: root });
        return { code: 0, stdout, stderr };
    } catch (error) {
        const failed = error as { code: number; stdout: string; stderr: string };
        return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
}

/** A profile that keeps organism's retrieval head (layer 3, KV head 1) and layer 2's head 0 full, in that order. */
async function profileFile(): Promise<string> {
    const scores = [[0, 0, 0, 0], [0, 0, 0, 0], [0.5, 0, 0, 0], [0, 1, 0, 0]];
    const profile: HeadProfile = {
        modelSha256: await modelSha256(ORGANISM), layers: 4, kvHeads: 4, scores, source: 'profiler', method: 'attention',
        fullHeads: 2, recommendedBudget: 0.3, createdAt: new Date().toISOString(),
    };
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'headroom-eval-profile-')), 'organism.profile.json');
    await writeFile(file, JSON.stringify(profile));
    return file;
}

describe('npm run eval (organism)', requiresNative(), () => {
    test('full cache against the plan on the same chats: every task scored, the plan\'s heads and KV bytes as run, follow-ups on the cached document', async () => {
        const out = await mkdtemp(path.join(os.tmpdir(), 'headroom-eval-'));
        const profile = await profileFile();
        const cli = await evalCli(['--model', ORGANISM, '--kv', 'auto', '--profile', profile, '--lengths', '1024', '--trials', '6', '--seed', '3', '--out', out]);
        assert.equal(cli.code, 0, cli.stderr);
        const result = EvalResult.parse(JSON.parse(await readFile(path.join(out, 'eval.json'), 'utf8')));
        assert.deepEqual([result.model, result.kv.mode, result.seed, result.filler, result.chats], ['organism.gguf', 'auto', 3, 'filler-lgpl-2.1.txt', 6]);
        assert.match(result.command, /^npm run eval -- --model \S+organism\.gguf --kv auto --profile \S+ --lengths 1024 --trials 6 --seed 3 --out \S+$/);
        assert.deepEqual(result.tasks.map((t) => [t.name, t.trials]), [['single', 6], ['multikey', 6], ['multivalue', 6], ['multiquery', 24]]);
        assert.deepEqual(result.tasks.map((t) => t.name), [...EVAL_TASKS]);

        // What ran: the full cache, and the profile's two best heads full with sinks 4 and a 128-token window.
        const [length] = result.lengths;
        assert.ok(length?.full != null && length.plan != null);
        assert.deepEqual([length.full.compressed, length.full.fullHeads, length.full.totalHeads, length.full.contextSize], [false, 16, 16, 1024]);
        assert.equal(length.full.kvBytes?.allocated, 4 * 4 * 16 * 2 * 2 * 1024, 'the stock cache: layers × KV heads × head size × K and V × f16 × cells');
        const { plan } = length;
        assert.deepEqual([plan.compressed, plan.refused, plan.fullHeads, plan.totalHeads, plan.sinks, plan.window], [true, null, 2, 16, 4, 128]);
        const full = plan.policy?.flatMap((row, layer) => row.flatMap((policy, head) => (policy === 'full' ? [`L${layer}H${head}`] : [])));
        assert.deepEqual(full, ['L2H0', 'L3H1']);
        assert.ok(plan.kvBytes != null && plan.kvBytes.allocated > 0);
        assert.equal(plan.kvBytes.allocated, plan.kvBytes.planned, 'llama.cpp allocated what the formula planned');
        assert.ok(plan.kvBytes.allocated < 0.5 * length.full.kvBytes.allocated, JSON.stringify(plan.kvBytes));
        assert.deepEqual(result.profile?.origin, 'file');

        // Real outcomes: organism finds most single needles at 1,024 tokens with the full cache (20/20 in bench/results).
        const single = result.tasks.find((t) => t.name === 'single');
        assert.ok(single != null && single.full.correct >= 5, JSON.stringify(result.answers.full.filter((a) => a.task === 'single' && !a.correct)));
        for (const task of result.tasks) {
            assert.ok(task.plan != null && task.full.trials === task.plan.trials);
            assert.equal(task.accuracy, task.plan.accuracy);
            assert.equal(task.ratio, task.full.accuracy === 0 ? null : task.plan.accuracy / task.full.accuracy);
            assert.ok(task.full.interval95[0] <= task.full.accuracy && task.full.accuracy <= task.full.interval95[1]);
        }
        // The same chats on both caches, each answer scored by its digits.
        const key = (a: (typeof result.answers.full)[number]) => `${a.task} ${a.chat}.${a.turn} ${a.key} ${a.expected}`;
        assert.deepEqual(result.answers.plan.map(key), result.answers.full.map(key));
        for (const answer of [...result.answers.full, ...result.answers.plan]) {
            assert.equal(answer.correct, answer.answer.includes(answer.expected));
            assert.ok(answer.promptTokens + 32 <= 1024, `a turn of ${answer.promptTokens} tokens leaves room for its answer`);
        }
        // Follow-up turns reuse the cached document, as a chat does.
        for (const answer of [...result.answers.full, ...result.answers.plan].filter((a) => a.task === 'multiquery' && a.turn > 0)) {
            assert.ok(answer.reusedTokens > answer.promptTokens * 0.8, `turn ${answer.turn}: reused ${answer.reusedTokens} of ${answer.promptTokens}`);
        }
        assert.match(cli.stdout, /^single needle: full \d+\.\d% \(\d+\/6\), plan \d+\.\d% \(\d+\/6\), ratio (\d\.\d{3}|n\/a)$/m);
        assert.match(cli.stdout, /eval\.png$/m);
    });

    test('a budget that keeps no head full at a length is recorded as refused with the smallest one that does, and nothing runs there', async () => {
        const out = await mkdtemp(path.join(os.tmpdir(), 'headroom-eval-'));
        const cli = await evalCli(['--model', ORGANISM, '--kv', '0.25', '--profile', await profileFile(), '--lengths', '1024', '--trials', '1', '--tasks', 'single', '--out', out]);
        assert.equal(cli.code, 0, cli.stderr);
        const result = EvalResult.parse(JSON.parse(await readFile(path.join(out, 'eval.json'), 'utf8')));
        assert.equal(result.lengths[0]?.full, null);
        assert.match(result.lengths[0]?.plan?.refused ?? '', /^A budget of 0\.25 keeps no head full at 1,024 tokens.*The smallest budget that keeps one head full is 0\.\d+/);
        assert.deepEqual([result.answers.full, result.answers.plan], [[], []]);
    });

    test('--help says the grammar; a task it does not know is refused in one line', async () => {
        const help = await evalCli(['--help']);
        assert.equal(help.code, 0);
        assert.match(help.stdout, /^Usage: npm run eval -- --model <gguf> --out <dir> \[options\]\n {7}npm run eval -- --chart <dir>\n/);
        assert.match(help.stdout, /^ {2}--tasks <task,…> +which tasks: single, multikey, multivalue, multiquery \(default: single,multikey,multivalue,multiquery\)$/m);
        assert.match(help.stdout, /^ {2}--lengths <tokens,…> +context sizes, each loaded as its own context/m);
        const bad = await evalCli(['--model', ORGANISM, '--tasks', 'single,trivia', '--out', os.tmpdir()]);
        assert.equal(bad.code, 1);
        assert.equal(bad.stderr, 'error (BAD_REQUEST): --tasks are single, multikey, multivalue, multiquery, not "trivia".\n');
    });
});
