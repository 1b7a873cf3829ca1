// npm run eval -- --model <gguf> --kv off|auto|0.25|budget:0.25 --seed <n> --out <dir>
//   [--tasks single,multikey,multivalue,multiquery] [--lengths 1024,2048] [--trials n] [--sinks n] [--window n]
//   [--offload gpu|cpu|auto] [--profile <json>] [--threads n] [--filler <txt>]
// npm run eval -- --chart <dir>     every run's eval.json in <dir> drawn side by side (eval-summary.png), each run's eval.png again
import { parseArgs } from 'node:util';
import { HeadroomError } from '../common/errors.ts';
import { EVAL_TASKS, EvalTaskName, evalTaskLabel } from '../common/eval.ts';
import { KV_FLAG_USAGE, parseKvFlag } from '../common/kv/flag.ts';
import { DEFAULT_SINKS, DEFAULT_WINDOW, KvOptions } from '../common/kv/policy.ts';
import { requireProfile } from '../engine/kv/profiles.ts';
import { parseNumberList, runCli } from './cliArgs.ts';
import { runEval, writeEvalFolderChart, writeEvalOutputs } from './eval.ts';

const USAGE = `usage: npm run eval -- --model <gguf> --out <dir> [${KV_FLAG_USAGE}] [--seed n] [--tasks ${EVAL_TASKS.join(',')}] [--lengths 1024,2048] [--trials n] [--sinks n] [--window n] [--offload gpu|cpu|auto] [--profile <json>] [--threads n] [--filler <txt>]
       npm run eval -- --chart <dir>`;

const wholeNumber = (value: string, what: string, least: number): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < least) throw new HeadroomError('BAD_REQUEST', `--${what} must be a whole number of at least ${least}, not "${value}".`);
    return n;
};

/** The command line as typed, for the record. */
const commandLine = (args: readonly string[]) => ['npm run eval --', ...args.map((a) => (/^[\w./:,=@+-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`))].join(' ');

runCli(async () => {
    const args = process.argv.slice(2);
    const { values } = parseArgs({
        args,
        options: {
            model: { type: 'string' },
            out: { type: 'string' },
            chart: { type: 'string' },
            kv: { type: 'string', default: 'off' },
            seed: { type: 'string', default: '21' },
            tasks: { type: 'string', default: EVAL_TASKS.join(',') },
            lengths: { type: 'string', default: '1024,2048' },
            trials: { type: 'string', default: '10' },
            sinks: { type: 'string', default: String(DEFAULT_SINKS) },
            window: { type: 'string', default: String(DEFAULT_WINDOW) },
            offload: { type: 'string', default: 'auto' },
            profile: { type: 'string' },
            threads: { type: 'string' },
            filler: { type: 'string' },
            help: { type: 'boolean', default: false },
        },
    });
    if (values.help) {
        process.stdout.write(`${USAGE}\n`);
        return;
    }
    if (values.chart != null) {
        process.stdout.write(`${(await writeEvalFolderChart(values.chart)).join('\n')}\n`);
        return;
    }
    if (values.model == null || values.out == null) throw new HeadroomError('BAD_REQUEST', USAGE);
    const tasks = [...new Set(values.tasks.split(',').map((t) => t.trim()))].map((t) => {
        const task = EvalTaskName.safeParse(t);
        if (!task.success) throw new HeadroomError('BAD_REQUEST', `--tasks are ${EVAL_TASKS.join(', ')}, not "${t}".`);
        return task.data;
    });
    const lengths = parseNumberList(values.lengths, 'lengths');
    if (lengths.some((n) => !Number.isInteger(n) || n < 256)) throw new HeadroomError('BAD_REQUEST', '--lengths must be whole token counts of at least 256 (a multi-query chat needs room for its turns).');
    const chats = wholeNumber(values.trials, 'trials', 1);
    const seed = wholeNumber(values.seed, 'seed', 0);
    const asked = parseKvFlag(values.kv, values.offload);
    const kv = KvOptions.parse({
        ...asked, sinks: wholeNumber(values.sinks, 'sinks', 0), window: wholeNumber(values.window, 'window', 1),
        ...(values.profile != null ? { profile: values.profile } : {}),
    });
    // A plan of the model's own heads, as niah asks: a budget on the fallback order would say nothing about this model.
    if (kv.mode !== 'off') await requireProfile(values.model, values.profile);
    const threads = values.threads == null ? undefined : wholeNumber(values.threads, 'threads', 1);
    const result = await runEval({
        modelPath: values.model, kv, tasks, lengths, chats, seed, ...(threads != null ? { threads } : {}),
        ...(values.filler != null ? { filler: values.filler } : {}),
        command: commandLine(args),
        log: (line) => process.stderr.write(`${line}\n`),
        onAnswer(cache, answer, done, total) {
            const wrong = answer.correct ? 'right' : `wrong${answer.confusedWith != null ? ` (gave ${answer.confusedWith})` : ''}`;
            process.stderr.write(`[${cache} ${done}/${total}] ${answer.contextTokens} ${answer.task} #${answer.chat}.${answer.turn}: ${wrong} ${JSON.stringify(answer.answer.slice(0, 60))}\n`);
        },
    });
    const { json, png } = await writeEvalOutputs(result, values.out);
    for (const task of result.tasks) {
        const plan = task.plan == null ? '' : `, plan ${(task.plan.accuracy * 100).toFixed(1)}% (${task.plan.correct}/${task.plan.trials}), ratio ${task.ratio == null ? 'n/a' : task.ratio.toFixed(3)}`;
        process.stdout.write(`${evalTaskLabel(task.name)}: full ${(task.full.accuracy * 100).toFixed(1)}% (${task.full.correct}/${task.full.trials})${plan}\n`);
    }
    process.stdout.write(`${json}\n${png}\n`);
});
