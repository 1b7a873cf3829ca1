// npm run eval -- --model <gguf> --kv off|auto|0.25|budget:0.25 --seed <n> --out <dir>
//   [--tasks single,multikey,multivalue,multiquery] [--lengths 1024,2048] [--trials n] [--sinks n] [--window n]
//   [--offload gpu|cpu|auto] [--profile <json>] [--threads n] [--filler <txt>]
// npm run eval -- --chart <dir>     every run's eval.json in <dir> drawn side by side (eval-summary.png), each run's eval.png again
import { parseArgs } from 'node:util';
import { HeadroomError } from '../common/errors.ts';
import { EVAL_TASKS, EvalTaskName, evalTaskLabel } from '../common/eval.ts';
import { commandLine, HELP_OPTION, helpText, KV_OPTION, usageLine, type CliSpec } from '../common/cliHelp.ts';
import { parseKvFlag } from '../common/kv/flag.ts';
import { DEFAULT_SINKS, DEFAULT_WINDOW, KvOptions } from '../common/kv/policy.ts';
import { requireProfile } from '../engine/kv/profiles.ts';
import { parseNumberList, runCli } from './cliArgs.ts';
import { runEval, writeEvalFolderChart, writeEvalOutputs } from './eval.ts';

const SPEC = {
    command: 'npm run eval',
    summary: 'Generated passcode tasks on the full cache and on the head plan, the same chats on both: accuracy per task and length with 95 % intervals, written as eval.json and eval.png.',
    otherForms: ['--chart <dir>'],
    options: {
        model: { type: 'string', value: '<gguf>', help: 'the model', required: true },
        out: { type: 'string', value: '<dir>', help: 'where the results go', required: true },
        chart: { type: 'string', value: '<dir>', help: 'instead of a run: every run in <dir> drawn side by side (eval-summary.png)' },
        kv: KV_OPTION,
        seed: { type: 'string', default: '21', value: '<n>', help: 'the random seed' },
        tasks: { type: 'string', default: EVAL_TASKS.join(','), value: '<task,…>', help: `which tasks: ${EVAL_TASKS.join(', ')}` },
        lengths: { type: 'string', default: '1024,2048', value: '<tokens,…>', help: 'context sizes, each loaded as its own context; a chat\'s last turn and its answer fit in it' },
        trials: { type: 'string', default: '10', value: '<n>', help: 'chats per task and length (a multi-query chat asks 4 questions)' },
        sinks: { type: 'string', default: String(DEFAULT_SINKS), value: '<n>', help: 'first tokens every compressed head keeps' },
        window: { type: 'string', default: String(DEFAULT_WINDOW), value: '<n>', help: 'recent tokens every compressed head keeps' },
        offload: { type: 'string', default: 'auto', value: 'gpu|cpu|auto', help: 'where the full heads\' cache lives' },
        profile: { type: 'string', value: '<json>', help: 'the head profile to plan with', defaultText: 'the model\'s stored or shipped one' },
        threads: { type: 'string', value: '<n>', help: 'CPU threads', defaultText: 'automatic' },
        filler: { type: 'string', value: '<txt>', help: 'the text the documents are made of', defaultText: 'the LGPL-2.1' },
        help: HELP_OPTION,
    },
} as const satisfies CliSpec;
const USAGE = usageLine(SPEC);

const wholeNumber = (value: string, what: string, least: number): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < least) throw new HeadroomError('BAD_REQUEST', `--${what} must be a whole number of at least ${least}, not "${value}".`);
    return n;
};

runCli(async () => {
    const args = process.argv.slice(2);
    const { values } = parseArgs({ args, options: SPEC.options });
    if (values.help === true) return void process.stdout.write(helpText(SPEC));
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
        command: commandLine(SPEC.command, args),
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
