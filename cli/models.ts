// `npm run models [-- --json] [--data-dir <dir>]`: the models on this machine, as the Models view
// lists them (Headroom's folder, LM Studio, Ollama, Jan, the Hugging Face cache), from their headers.
import { parseArgs } from 'node:util';
import { HELP_OPTION, helpText, usageLine, type CliSpec } from '../common/cliHelp.ts';
import { formatSize, MODEL_ORIGIN_LABELS, type LocalModel } from '../common/models.ts';
import { scanModels } from '../backend/models/discovery.ts';
import { machinePlaces } from '../backend/paths.ts';
import { checked } from './args.ts';
import { savedModelsFolder } from './modelSource.ts';

const TOOL = 'headroom models';
const SPEC = {
    command: 'npm run models',
    summary: 'Lists the GGUF models on this machine, as the Models view does: Headroom\'s folder, LM Studio\'s, Ollama\'s, Jan\'s and the Hugging Face cache, read from their headers.',
    options: {
        json: { type: 'boolean', default: false, help: 'print the list as JSON' },
        'data-dir': { type: 'string', value: '<dir>', help: 'the data folder whose settings name the models folder', defaultText: 'Headroom\'s own' },
        help: HELP_OPTION,
    },
} as const satisfies CliSpec;

const values = checked(TOOL, () => parseArgs({ options: SPEC.options, strict: true }).values, usageLine(SPEC));
if (values.help === true) {
    process.stdout.write(helpText(SPEC));
    process.exit(0);
}

const found = await scanModels({ places: machinePlaces(), headroomFolder: savedModelsFolder(values['data-dir']) });
if (values.json) {
    process.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
    process.exit(0);
}

const columns: [string, (model: LocalModel) => string][] = [
    ['NAME', (m) => m.name],
    ['FROM', (m) => MODEL_ORIGIN_LABELS[m.origin]],
    ['ARCH', (m) => m.architecture],
    ['QUANT', (m) => m.quantization ?? '?'],
    ['SIZE', (m) => formatSize(m.sizeBytes) + (m.parts > 1 ? ` (${m.parts} parts)` : '')],
    ['TRAINED CTX', (m) => (m.trainContextSize > 0 ? m.trainContextSize.toLocaleString('en-US') : '?')],
    ['COMPRESSION', (m) => (m.headwise ? 'head-level' : '-')],
    ['PATH', (m) => m.path],
];
const rows = [columns.map(([title]) => title), ...found.models.map((model) => columns.map(([, cell]) => cell(model)))];
const widths = columns.map((_, i) => Math.max(...rows.map((row) => row[i]?.length ?? 0)));
const lines = found.models.length === 0
    ? [`No models found. Looked in:\n${found.folders.map((f) => `  ${f.path}${f.exists ? '' : ' (not there)'}`).join('\n')}`]
    : rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '));
process.stdout.write(`${lines.join('\n')}\n`);
for (const note of found.notes) process.stdout.write(`note: ${note.message} (${note.path})\n`);
