// How long reading a document takes as it grows: HTML pages of 2k to 16k paragraphs, a 10 MB
// page, and Word documents of 3k to 12k paragraphs, through the same extractDocument the app's
// reader runs. Reading must grow linearly: twice the paragraphs, about twice the time (issue 23
// measured 1, 4, 17 and 68 s for 2k-16k HTML paragraphs, and 32 s for a 12,000-paragraph DOCX).
// Writes bench/results/cpu-extract-speed/extract-speed.json:
//   node bench/extractSpeed.ts [--rounds 3]
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { extractDocument } from '../backend/documents/extract.ts';
import { HELP_OPTION, helpText, type CliSpec } from '../common/cliHelp.ts';
import { makeDocx } from '../test/support/documents.ts';
import { runCli } from './cliArgs.ts';

const out = fileURLToPath(new URL('./results/cpu-extract-speed/', import.meta.url));

/** An ordinary article: paragraphs with inline markup, a heading every 20, a list every 50. */
export function htmlPage(paragraphs: number): string {
    const body: string[] = [];
    for (let i = 0; i < paragraphs; i++) {
        if (i % 20 === 0) body.push(`<h2>Section ${i / 20 + 1}</h2>`);
        body.push(`<p>Paragraph ${i} says something about the <b>river</b> and the <a href="#n${i}">gauge</a>, with a few more words to read.</p>`);
        if (i % 50 === 49) body.push('<ul><li>First point</li><li>Second point</li></ul>');
    }
    return `<!DOCTYPE html><html><head><title>Report</title></head><body>${body.join('\n')}</body></html>`;
}

/** The median of `rounds` timings of one extraction, in milliseconds. */
async function timed(name: string, bytes: Uint8Array, rounds: number): Promise<{ ms: number; chars: number }> {
    const times: number[] = [];
    let chars = 0;
    for (let round = 0; round < rounds; round++) {
        const started = performance.now();
        chars = (await extractDocument(name, bytes)).text.length;
        times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    return { ms: Math.round(times[Math.floor(times.length / 2)] ?? 0), chars };
}

const SPEC = {
    command: 'node bench/extractSpeed.ts',
    summary: 'Times reading HTML pages of 2k to 16k paragraphs, a 10 MB page and Word documents of 3k to 12k paragraphs through extractDocument; writes bench/results/cpu-extract-speed/extract-speed.json.',
    options: {
        rounds: { type: 'string', default: '3', value: '<n>', help: 'timings of each document; the median is kept' },
        help: HELP_OPTION,
    },
} as const satisfies CliSpec;

if (import.meta.main) runCli(async () => {
    const { values } = parseArgs({ options: SPEC.options });
    if (values.help === true) return void process.stdout.write(helpText(SPEC));
    const rounds = Number(values.rounds);
    const html: Array<{ paragraphs: number; bytes: number; ms: number; chars: number }> = [];
    for (const paragraphs of [2000, 4000, 8000, 16000]) {
        const bytes = Buffer.from(htmlPage(paragraphs));
        html.push({ paragraphs, bytes: bytes.length, ...await timed('page.html', bytes, rounds) });
        process.stderr.write(`html ${paragraphs} paragraphs: ${html.at(-1)?.ms} ms\n`);
    }
    // More than 10 MB of HTML: 80,000 paragraphs of the page above.
    const tenMb = Buffer.from(htmlPage(80_000));
    const large = { bytes: tenMb.length, ...await timed('large.html', tenMb, rounds) };
    process.stderr.write(`html ${(large.bytes / 1e6).toFixed(1)} MB: ${large.ms} ms\n`);
    const docx: Array<{ paragraphs: number; bytes: number; ms: number; chars: number }> = [];
    for (const paragraphs of [3000, 6000, 12000]) {
        const bytes = await makeDocx({
            heading: 'Field notes',
            paragraphs: Array.from({ length: paragraphs }, (_, i) => `Paragraph ${i}: the river rose two metres in March, and nobody expected the thaw so early.`),
            bullets: ['Check the gauges'],
            table: [['Station', 'Level'], ['North', '2.1 m']],
        });
        docx.push({ paragraphs, bytes: bytes.length, ...await timed('notes.docx', bytes, rounds) });
        process.stderr.write(`docx ${paragraphs} paragraphs: ${docx.at(-1)?.ms} ms\n`);
    }
    const ratio = (rows: Array<{ ms: number }>) => Number(((rows.at(-1)?.ms ?? 0) / Math.max(1, rows.at(-2)?.ms ?? 1)).toFixed(2));
    const result = {
        machine: `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores`,
        node: process.version,
        rounds,
        html,
        htmlDoublingRatio: ratio(html),
        html10Mb: large,
        docx,
        docxDoublingRatio: ratio(docx),
    };
    await mkdir(out, { recursive: true });
    const file = path.join(out, 'extract-speed.json');
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${file}\n`);
});
