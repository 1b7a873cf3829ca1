// `npm run serve -- --model <path.gguf> [--port <n>] [--context <n>] [--data-dir <dir>]`: the
// engine and the UI for a browser on this machine. Prints exactly one line, the address to open.
import { existsSync, statSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { errorMessage, HeadroomError } from '../common/errors.ts';
import { CONTEXT_OPTION, HELP_OPTION, helpText, KV_OPTION, KV_TYPE_OPTION, MODEL_VALUE, THREADS_OPTION, usageLine, type CliSpec } from '../common/cliHelp.ts';
import { parseKvFlag, parseKvTypeFlag } from '../common/kv/flag.ts';
import { kvSettingsOf } from '../common/settings.ts';
import { createBackend, type Backend } from '../backend/backend.ts';
import { spawnNodeHost } from '../backend/host/nodeHost.ts';
import { isRemoteModelSource } from '../common/models.ts';
import { checked, contextOption, refuse, threadsOption } from '../cli/args.ts';
import { logStderrTo } from '../backend/logFile.ts';
import { userDataPaths } from '../backend/paths.ts';
import { resolveModelOption } from '../cli/modelSource.ts';
import { startWebServer } from './webServer.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const staticDir = path.join(root, 'dist', 'renderer');
const DEFAULT_PORT = 4310;

const TOOL = 'headroom';
function fail(message: string): never {
    return refuse(TOOL, message);
}

function newestMtime(dir: string): number {
    let newest = 0;
    for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
        if (entry.isFile()) newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
    }
    return newest;
}

/** Build the UI when it is missing or older than its sources, so a fresh checkout just works. */
async function ensureRendererBuilt(): Promise<void> {
    const index = path.join(staticDir, 'index.html');
    const sources = ['renderer', 'common'].map((dir) => path.join(root, dir));
    if (existsSync(index) && statSync(index).mtimeMs >= Math.max(...sources.map(newestMtime))) return;
    process.stderr.write('Building the Headroom UI…\n');
    const { build } = await import('vite');
    await build({ configFile: path.join(root, 'renderer', 'vite.config.ts'), mode: 'web', logLevel: 'warn' });
}

const SPEC = {
    command: 'npm run serve',
    summary: 'Serves the app to a browser on this machine (127.0.0.1 only) and prints one line, the address to open; --context, --threads, --kv and --kv-type are saved as settings.',
    options: {
        model: { type: 'string', value: MODEL_VALUE, help: 'the model to load; a URI or URL is downloaded into the models folder first', defaultText: 'none: pick one in the app' },
        port: { type: 'string', default: String(DEFAULT_PORT), value: '<n>', help: 'the port; 0 picks a free one' },
        context: { ...CONTEXT_OPTION, defaultText: 'the saved setting' },
        threads: { ...THREADS_OPTION, defaultText: 'the saved setting' },
        'data-dir': { type: 'string', value: '<dir>', help: 'a folder of its own for the chats', defaultText: 'Headroom\'s data folder, shared with the desktop app' },
        kv: { type: 'string', value: KV_OPTION.value, help: KV_OPTION.help, defaultText: 'the saved setting' },
        'kv-type': { type: 'string', value: KV_TYPE_OPTION.value, help: KV_TYPE_OPTION.help, defaultText: 'the saved setting' },
        help: HELP_OPTION,
    },
} as const satisfies CliSpec;

const values = checked(TOOL, () => parseArgs({ options: SPEC.options, strict: true }).values, usageLine(SPEC));

if (values.help === true) {
    process.stdout.write(helpText(SPEC));
    process.exit(0);
}

const { port, contextSize, threads, kv, kvCacheType, modelSource } = checked(TOOL, () => {
    const portNumber = Number(values.port);
    if (!Number.isInteger(portNumber) || portNumber < 0 || portNumber > 65535) throw new Error(`--port must be a port number, not "${values.port}".`);
    const model = values.model ?? null;
    if (model != null && !isRemoteModelSource(model) && !existsSync(model)) throw new Error(`no model file at ${path.resolve(model)}.`);
    return {
        port: portNumber,
        contextSize: contextOption(values.context),
        threads: threadsOption(values.threads),
        // --kv, --context and --threads are saved as settings; without them the saved ones apply.
        kv: values.kv == null ? null : parseKvFlag(values.kv),
        kvCacheType: values['kv-type'] == null ? null : parseKvTypeFlag(values['kv-type']),
        modelSource: model,
    };
});


await ensureRendererBuilt();
// --data-dir: the chats (and their snapshots) in that folder. Without it, every kind of data where
// common/paths.ts says, shared with the desktop app; what earlier versions kept elsewhere is moved in.
const paths = userDataPaths(values['data-dir']);
const dataDir = path.dirname(paths.chats);
if (values['data-dir'] == null) logStderrTo(paths.logs);
let backend: Backend;
try {
    backend = createBackend({ spawnHost: spawnNodeHost, paths, moveLegacyData: values['data-dir'] == null });
    for (const line of backend.moved) process.stderr.write(`${line}\n`);
} catch (error) {
    // Another Headroom on this data folder says so itself; anything else is the database.
    fail(error instanceof HeadroomError ? error.message : `cannot open the chat database in ${dataDir}: ${errorMessage(error)}`);
}
// What the command line says becomes the settings (validated like the panel's), so the
// planner, the settings panel and the loaded model all agree.
try {
    backend.settings.update({
        ...(contextSize != null ? { contextSize } : {}),
        ...(threads != null ? { threads } : {}),
        ...(kv != null ? kvSettingsOf(kv) : {}),
        ...(kvCacheType != null ? { kvCacheType } : {}),
    });
} catch (error) {
    backend.dispose();
    fail(errorMessage(error));
}
// A URI or URL is downloaded into the models folder first, with progress on stderr.
let modelPath: string | null = null;
if (modelSource != null) {
    try {
        modelPath = await resolveModelOption(modelSource, backend.models.folder());
    } catch (error) {
        backend.dispose();
        fail(errorMessage(error));
    }
}
const server = await startWebServer({ backend, staticDir, port }).catch((error: NodeJS.ErrnoException) => {
    backend.dispose();
    fail(error.code === 'EADDRINUSE' ? `port ${port} is in use; pass --port <n> (0 picks a free one).` : error.message);
});
process.stdout.write(`Headroom is running at ${server.url}\n`);

if (modelPath != null) {
    // Loaded as the window would load it: the saved settings, the automatic context.
    backend.loader.load({ path: modelPath }).catch((error: Error) => {
        process.stderr.write(`headroom: ${error.message}\n`);
    });
}

const shutdown = async () => {
    backend.dispose();
    await server.close();
    process.exit(0);
};
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
