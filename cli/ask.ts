// `npm run ask -- --model <gguf> --doc <file> [--doc <file> …] --question "<text>" [--kv off|auto|0.25|budget:0.25]`
// The app's own ingestion and chat pipeline, headless: documents are extracted and counted,
// a chat is created in a throwaway data folder, the question is sent, and only the answer
// is printed on stdout. Errors go to stderr with a non-zero exit.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { errorMessage, HeadroomError } from '../common/errors.ts';
import { describeIssues, plainIssue } from '../common/issues.ts';
import { crossFieldProblems, DEFAULT_SETTINGS, kvSettingsOf, LoadOverrides, SETTING_LABELS } from '../common/settings.ts';
import { CONTEXT_OPTION, HELP_OPTION, helpText, KV_OPTION, KV_TYPE_OPTION, MODEL_VALUE, THREADS_OPTION, usageLine, type CliSpec } from '../common/cliHelp.ts';
import { parseKvFlag, parseKvTypeFlag } from '../common/kv/flag.ts';
import { createBackend } from '../backend/backend.ts';
import { spawnNodeHost } from '../backend/host/nodeHost.ts';
import { isRemoteModelSource } from '../common/models.ts';
import { checked, contextOption, threadsOption } from './args.ts';
import { resolveModelOption, savedModelsFolder } from './modelSource.ts';

const TOOL = 'headroom ask';
const SPEC = {
    command: 'npm run ask',
    summary: 'Answers a question about documents with the app\'s own reading and chat pipeline, headless: each document is read whole into the context, and only the answer is printed (errors go to stderr, with a non-zero exit).',
    options: {
        model: { type: 'string', value: MODEL_VALUE, help: 'the model; a URI or URL is downloaded into the models folder first', required: true },
        doc: { type: 'string', multiple: true, default: [] as string[], value: '<file>', help: 'a document: PDF, DOCX, EPUB, HTML, Markdown, text or source code' },
        question: { type: 'string', value: '<text>', help: 'what to ask', required: true },
        kv: KV_OPTION,
        'kv-type': KV_TYPE_OPTION,
        context: CONTEXT_OPTION,
        threads: THREADS_OPTION,
        help: HELP_OPTION,
    },
} as const satisfies CliSpec;
const USAGE = usageLine(SPEC);

const values = checked(TOOL, () => parseArgs({ options: SPEC.options, strict: true }).values, USAGE);
if (values.help === true) {
    process.stdout.write(helpText(SPEC));
    process.exit(0);
}
/** The flag each setting ask takes comes from. */
const FLAG_OF_SETTING: Record<string, string> = { contextSize: '--context', threads: '--threads', kvBudget: '--kv', kvCacheType: '--kv-type' };

const { question, overrides } = checked(TOOL, () => {
    if (values.model == null) throw new Error('--model is required.');
    const asked = values.question?.trim() ?? '';
    if (asked === '') throw new Error('--question is required.');
    if (!isRemoteModelSource(values.model) && !existsSync(values.model)) throw new Error(`no model file at ${path.resolve(values.model)}.`);
    for (const doc of values.doc) if (!existsSync(doc)) throw new Error(`no document at ${path.resolve(doc)}.`);
    // The options are one-off changes to the settings (this run's data folder has the defaults):
    // the app's own load, with the settings panel's rules, checked here so a bad option is refused before any download.
    const contextSize = contextOption(values.context);
    const threads = threadsOption(values.threads);
    const parsed = LoadOverrides.safeParse({
        ...(contextSize != null ? { contextSize } : {}), ...(threads != null ? { threads } : {}),
        ...kvSettingsOf(parseKvFlag(values.kv)), kvCacheType: parseKvTypeFlag(values['kv-type']),
    }, { error: plainIssue });
    if (!parsed.success) {
        // Said with the flag's name: "--context must be at least 256."
        const { message, field } = describeIssues(parsed.error);
        throw new Error(message.replace(field ?? '', FLAG_OF_SETTING[field ?? ''] ?? field ?? ''));
    }
    const problem = crossFieldProblems({ ...DEFAULT_SETTINGS, ...parsed.data })[0];
    if (problem != null) throw new Error(`${SETTING_LABELS[problem.key]}: ${problem.message}`);
    return { question: asked, overrides: parsed.data };
});

let modelPath: string;
try {
    modelPath = await resolveModelOption(values.model ?? '', savedModelsFolder());
} catch (error) {
    process.stderr.write(`${TOOL}: ${errorMessage(error)}\n`);
    process.exit(1);
}

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-ask-'));
const backend = createBackend({ spawnHost: spawnNodeHost, dataDir });
let exitCode = 0;
try {
    // Loaded as the app loads it: the automatic context unless --context says otherwise.
    await backend.loader.load({ path: modelPath, overrides });
    const { id: chatId } = await backend.request('chats.create', { title: 'ask' });
    for (const [index, doc] of values.doc.entries()) {
        const bytes = await readFile(doc);
        await backend.request('documents.add', { chatId, uploadId: `doc${index}`, name: path.basename(doc), dataBase64: bytes.toString('base64') });
    }
    const reply = await backend.request('chat.send', { chatId, prompt: question });
    if (reply.status === 'error') throw new HeadroomError('GENERATION_FAILED', reply.error ?? 'The reply failed.');
    process.stdout.write(`${reply.text.trim()}\n`);
} catch (error) {
    process.stderr.write(`${TOOL}: ${errorMessage(error)}\n`);
    exitCode = 1;
} finally {
    backend.dispose();
    await rm(dataDir, { recursive: true, force: true });
}
process.exit(exitCode);
