// Time to the first token of a follow-up question, compressed against the stock cache: a
// document, a question and a reply of --reply tokens, then a second question, through the real
// engine host (the app's load, prefill and chat path). What the follow-up had to evaluate is
// reported with it: with the head-level cache it goes back to the end of the first prompt
// (the streaming heads kept that window), so it reads the reply and the new question, never the
// document again.
//   node bench/followUp.ts --model <gguf> --out <dir> [--document 1800] [--reply 400]
//     [--context 4096] [--kv off,0.5,0.25] [--repeats 3]
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { spawnNodeHost } from '../backend/host/nodeHost.ts';
import { EngineSupervisor } from '../backend/host/supervisor.ts';
import { HELP_OPTION, helpText, usageLine, type CliSpec } from '../common/cliHelp.ts';
import type { EventEnvelope } from '../common/contract.ts';
import { HeadroomError } from '../common/errors.ts';
import { parseKvFlag } from '../common/kv/flag.ts';
import { KvOptions } from '../common/kv/policy.ts';
import { kvLabel } from '../common/niah.ts';
import { loadFiller } from '../engine/profiler/haystack.ts';
import { groupedBarsSvg } from './charts.ts';
import { parseNumberList, runCli } from './cliArgs.ts';
import { writeRun } from './results.ts';

export const FollowUpRun = z.object({
    mode: z.string(),
    kv: KvOptions,
    compressed: z.boolean(),
    documentTokens: z.number().int().nonnegative(),
    replyTokens: z.number().int().nonnegative(),
    /** Tokens the follow-up's prompt held, and how many of them it had to evaluate (the rest it reused). */
    followUpTokens: z.number().int().positive(),
    followUpEvaluated: z.number().int().nonnegative(),
    /** From sending the follow-up to its first streamed token: the median of the repeats, and each. */
    timeToFirstTokenMs: z.number().nonnegative(),
    samplesMs: z.array(z.number().nonnegative()),
});

export const FollowUpResult = z.object({
    model: z.string(),
    contextSize: z.number().int().positive(),
    runs: z.array(FollowUpRun),
    createdAt: z.string(),
});

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

const SPEC = {
    command: 'node bench/followUp.ts',
    summary: 'Times the first token of a follow-up question after a document, a question and a reply, compressed against the stock cache, through the real engine host; writes follow-up.json and follow-up.png.',
    options: {
        model: { type: 'string', value: '<gguf>', help: 'the model', required: true },
        out: { type: 'string', value: '<dir>', help: 'where the results go', required: true },
        document: { type: 'string', default: '1800', value: '<tokens>', help: 'the document\'s length' },
        reply: { type: 'string', default: '400', value: '<tokens>', help: 'the first reply\'s length' },
        context: { type: 'string', default: '4096', value: '<tokens>', help: 'the context size' },
        kv: { type: 'string', default: 'off,0.5,0.25', value: '<off|auto|0.25|budget:0.25,…>', help: 'the KV settings to compare, comma-separated' },
        repeats: { type: 'string', default: '3', value: '<n>', help: 'timed follow-ups per setting; the median is kept' },
        help: HELP_OPTION,
    },
} as const satisfies CliSpec;

runCli(async () => {
    const { values } = parseArgs({ options: SPEC.options });
    if (values.help === true) return void process.stdout.write(helpText(SPEC));
    if (values.model == null || values.out == null) throw new HeadroomError('BAD_REQUEST', usageLine(SPEC));
    const [documentTokens = 0, replyTokens = 0, contextSize = 0, repeats = 0] = parseNumberList(`${values.document},${values.reply},${values.context},${values.repeats}`, 'document/reply/context/repeats');
    const modes = values.kv.split(',').map((m) => parseKvFlag(m.trim()));
    const filler = loadFiller();
    let firstChunkAt: number | null = null;
    const supervisor = new EngineSupervisor(spawnNodeHost, (event: EventEnvelope) => {
        if (event.name === 'chat.chunk' && firstChunkAt == null) firstChunkAt = performance.now();
    });
    const runs: z.infer<typeof FollowUpRun>[] = [];
    try {
        for (const kv of modes) {
            const info = await supervisor.load({ path: values.model, contextSize, ...(kv.mode === 'off' ? {} : { kv }) });
            const compressed = info.kv.active;
            if (kv.mode !== 'off' && !compressed) throw new HeadroomError('NOT_AVAILABLE', info.kv.reason ?? 'compression is not active');
            // a document of about the asked length, in the model's tokens
            const [perFiller = 1] = (await supervisor.countTokens([filler])) ?? [];
            const document = filler.repeat(Math.ceil(documentTokens / perFiller) + 1).slice(0, Math.round(filler.length * documentTokens / perFiller));
            const documents = [{ name: 'document.txt', text: document }];
            const question = 'What does the document say about warranties?';
            const samples: number[] = [];
            let last: { tokens: number; evaluated: number; document: number; reply: number } | null = null;
            for (let r = 0; r < repeats; r++) {
                const first = await supervisor.generate({ generationId: `f${runs.length}-${r}-a`, documents, history: [], prompt: question, maxTokens: replyTokens });
                firstChunkAt = null;
                const sent = performance.now();
                const second = await supervisor.generate({
                    generationId: `f${runs.length}-${r}-b`, documents, history: [{ role: 'user', text: question }, { role: 'assistant', text: first.text }],
                    prompt: 'And what about liability?', maxTokens: 1,
                });
                samples.push((firstChunkAt ?? performance.now()) - sent);
                const [reply = 0] = (await supervisor.countTokens([first.text])) ?? [];
                last = { tokens: second.prefill.tokens, evaluated: second.prefill.tokens - 1 - second.prefill.reusedTokens, document: first.prefill.tokens, reply };
            }
            if (last == null) throw new HeadroomError('BAD_REQUEST', '--repeats must be at least 1.');
            runs.push({
                mode: kvLabel(kv), kv, compressed, documentTokens: last.document, replyTokens: last.reply,
                followUpTokens: last.tokens, followUpEvaluated: last.evaluated,
                timeToFirstTokenMs: median(samples), samplesMs: samples,
            });
            process.stderr.write(`kv ${kvLabel(kv)}: follow-up evaluated ${last.evaluated} of ${last.tokens} tokens, first token after ${median(samples).toFixed(0)} ms (${samples.map((s) => s.toFixed(0)).join(', ')})\n`);
        }
    } finally {
        supervisor.dispose();
    }
    const result = FollowUpResult.parse({ model: values.model.split('/').at(-1), contextSize, runs, createdAt: new Date().toISOString() });
    const svg = groupedBarsSvg({
        title: `Follow-up question: ${result.model}`,
        groups: ['follow-up'],
        groupLabel: `${documentTokens}-token document, ${replyTokens}-token reply`,
        series: runs.map((r) => r.mode),
        panels: [
            { title: 'Time to first token', yLabel: 'ms', values: runs.map((r) => [r.timeToFirstTokenMs]) },
            { title: 'Tokens evaluated', yLabel: 'tokens', values: runs.map((r) => [r.followUpEvaluated]) },
        ],
    });
    const { json, png } = await writeRun(values.out, 'follow-up', result, svg);
    process.stdout.write(`${json}\n${png}\n`);
});
