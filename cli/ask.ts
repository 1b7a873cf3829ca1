// `npm run ask -- --model <gguf> --doc <file> [--doc <file> …] --question "<text>" [--kv off|auto|<budget>]`
// The app's own ingestion and chat pipeline, headless: documents are extracted and counted,
// a chat is created in a throwaway data folder, the question is sent, and only the answer
// is printed on stdout. Errors go to stderr with a non-zero exit.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createBackend, type Backend } from '../backend/backend.ts';
import { spawnNodeHost } from '../backend/host/nodeHost.ts';
import { LoadModelParams, type Method, type Params, type Result } from '../common/contract.ts';
import { dispatch, HeadroomError } from '../common/rpc.ts';
import { parseKvFlag } from '../common/kv/flag.ts';

const USAGE = 'Usage: npm run ask -- --model <path.gguf> --doc <file> [--doc <file> …] --question "<text>" [--kv off|auto|<budget>] [--context <tokens>] [--threads <n>]\n';

function fail(message: string, code = 2): never {
    process.stderr.write(`headroom ask: ${message}\n`);
    process.exit(code);
}

function parse() {
    try {
        return parseArgs({
            options: {
                model: { type: 'string' },
                doc: { type: 'string', multiple: true, default: [] },
                question: { type: 'string' },
                kv: { type: 'string', default: 'off' },
                context: { type: 'string' },
                threads: { type: 'string' },
                help: { type: 'boolean', short: 'h' },
            },
            strict: true,
        }).values;
    } catch (error) {
        return fail(`${(error as Error).message}\n${USAGE}`);
    }
}

const values = parse();
if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
}
if (values.model == null) fail(`--model is required.\n${USAGE}`);
if (values.question == null || values.question.trim() === '') fail(`--question is required.\n${USAGE}`);
const modelPath = path.resolve(values.model);
if (!existsSync(modelPath)) fail(`no model file at ${modelPath}.`);
for (const doc of values.doc) if (!existsSync(doc)) fail(`no document at ${path.resolve(doc)}.`);
const contextSize = values.context == null ? undefined : Number(values.context);
if (contextSize != null && (!Number.isInteger(contextSize) || contextSize < 64)) fail(`--context must be a whole number of tokens (64 or more), not "${values.context}".`);
const threads = values.threads == null ? undefined : Number(values.threads);
if (threads != null && (!Number.isInteger(threads) || threads < 1)) fail(`--threads must be a whole number, 1 or more, not "${values.threads}".`);

const kv = parseKvFlag(values.kv);
if ('error' in kv) fail(kv.error);
const loadParams = LoadModelParams.safeParse({ path: modelPath, contextSize, threads, ...kv });
if (!loadParams.success) fail(`invalid options: ${loadParams.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);

async function call<M extends Method>(backend: Backend, method: M, params: Params<M>): Promise<Result<M>> {
    const response = await dispatch(backend.handlers, { type: 'request', id: 1, method, params });
    if (!response.ok) throw new HeadroomError(response.error.code, response.error.message);
    return response.result as Result<M>;
}

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-ask-'));
const backend = createBackend({ spawnHost: spawnNodeHost, dataDir });
let exitCode = 0;
try {
    await backend.supervisor.load(loadParams.data);
    const { id: chatId } = await call(backend, 'chats.create', { title: 'ask' });
    for (const [index, doc] of values.doc.entries()) {
        const bytes = await readFile(doc);
        await call(backend, 'documents.add', { chatId, uploadId: `doc${index}`, name: path.basename(doc), dataBase64: bytes.toString('base64') });
    }
    const reply = await call(backend, 'chat.send', { chatId, prompt: values.question.trim() });
    if (reply.status === 'error') throw new HeadroomError('GENERATION_FAILED', reply.error ?? 'The reply failed.');
    process.stdout.write(`${reply.text.trim()}\n`);
} catch (error) {
    process.stderr.write(`headroom ask: ${(error as Error).message}\n`);
    exitCode = 1;
} finally {
    backend.dispose();
    await rm(dataDir, { recursive: true, force: true });
}
process.exit(exitCode);
