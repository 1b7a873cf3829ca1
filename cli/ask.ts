// `npm run ask -- --model <gguf> --doc <file> [--doc <file> …] --question "<text>" [--kv off|auto|0.25|budget:0.25]`
// The app's own ingestion and chat pipeline, headless: documents are extracted and counted,
// a chat is created in a throwaway data folder, the question is sent, and only the answer
// is printed on stdout. Errors go to stderr with a non-zero exit.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LoadModelParams } from '../common/contract.ts';
import { errorMessage, HeadroomError } from '../common/errors.ts';
import { KV_FLAG_USAGE, KV_TYPE_FLAG_USAGE, parseKvFlag, parseKvTypeFlag } from '../common/kv/flag.ts';
import { createBackend } from '../backend/backend.ts';
import { spawnNodeHost } from '../backend/host/nodeHost.ts';
import { isRemoteModelSource } from '../common/models.ts';
import { checked, contextOption, threadsOption } from './args.ts';
import { resolveModelOption, savedModelsFolder } from './modelSource.ts';

const TOOL = 'headroom ask';
const USAGE = `Usage: npm run ask -- --model <path.gguf|hf:user/repo:quant|URL> --doc <file> [--doc <file> …] --question "<text>" [${KV_FLAG_USAGE}] [${KV_TYPE_FLAG_USAGE}] [--context <tokens>] [--threads <n>]\n`;

const values = checked(TOOL, () => parseArgs({
    options: {
        model: { type: 'string' },
        doc: { type: 'string', multiple: true, default: [] },
        question: { type: 'string' },
        kv: { type: 'string', default: 'off' },
        'kv-type': { type: 'string', default: 'f16' },
        context: { type: 'string' },
        threads: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
    },
    strict: true,
}).values, USAGE);
if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
}
const { question, loadOptions } = checked(TOOL, () => {
    if (values.model == null) throw new Error('--model is required.');
    const asked = values.question?.trim() ?? '';
    if (asked === '') throw new Error('--question is required.');
    if (!isRemoteModelSource(values.model) && !existsSync(values.model)) throw new Error(`no model file at ${path.resolve(values.model)}.`);
    for (const doc of values.doc) if (!existsSync(doc)) throw new Error(`no document at ${path.resolve(doc)}.`);
    const kv = parseKvFlag(values.kv);
    const options = {
        contextSize: contextOption(values.context), threads: threadsOption(values.threads), ...(kv.mode === 'off' ? {} : { kv }),
        kvCacheType: parseKvTypeFlag(values['kv-type']),
    };
    // Checked here with a stand-in path, so a bad option is refused before any download.
    const params = LoadModelParams.safeParse({ path: values.model, ...options });
    if (!params.success) throw new Error(`invalid options: ${params.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return { question: asked, loadOptions: options };
});

let modelPath: string;
try {
    modelPath = await resolveModelOption(values.model ?? '', savedModelsFolder());
} catch (error) {
    process.stderr.write(`${TOOL}: ${errorMessage(error)}\n`);
    process.exit(1);
}
const loadParams = LoadModelParams.parse({ path: modelPath, ...loadOptions });

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-ask-'));
const backend = createBackend({ spawnHost: spawnNodeHost, dataDir });
let exitCode = 0;
try {
    await backend.supervisor.load(loadParams);
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
