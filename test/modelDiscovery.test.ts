// Models on disk: a home folder built in each app's real layout (test/support/modelStores.ts),
// scanned as the Models view and `npm run models` scan it. Every model is listed once, under
// its app's name for it, with what its header says; what cannot be used is skipped with a note.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { LocalModels, supportsHeadwise, type LocalModel } from '../common/models.ts';
import { scanModels } from '../backend/models/discovery.ts';
import { buildModelStores, type ModelStores } from './support/modelStores.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const run = promisify(execFile);

describe('models on disk', () => {
    let stores: ModelStores;
    let found: LocalModels;

    before(async () => {
        stores = await buildModelStores();
        found = await scanModels({ places: { home: stores.home, env: {}, platform: 'linux' }, headroomFolder: stores.headroomFolder });
    });
    after(() => rm(stores.home, { recursive: true, force: true }));

    test('every model is listed once, named as its app names it, with its header\'s facts', () => {
        const listed = (model: LocalModel) => ({
            name: model.name, origin: model.origin, architecture: model.architecture, quantization: model.quantization,
            trainContextSize: model.trainContextSize, parts: model.parts, file: model.path,
        });
        const sort = <T extends { name: string }>(list: T[]) => [...list].sort((a, b) => a.name.localeCompare(b.name));
        assert.deepEqual(sort(found.models.map(listed)), sort(stores.expected));
        assert.ok(LocalModels.safeParse(found).success, 'the list is what the contract says');
    });

    test('head-level compression is marked for the architectures our build splits by head', () => {
        for (const model of found.models) assert.equal(model.headwise, supportsHeadwise(model.architecture), model.name);
        assert.ok(found.models.some((m) => m.headwise) && found.models.some((m) => !m.headwise), 'both kinds are in the stores');
    });

    test('sizes count every part of a split model', async () => {
        const split = found.models.find((m) => m.parts === 2);
        assert.ok(split != null);
        const { stat } = await import('node:fs/promises');
        const second = split.path.replace('-00001-of-', '-00002-of-');
        assert.equal(split.sizeBytes, (await stat(split.path)).size + (await stat(second)).size);
        assert.ok(!found.models.some((m) => m.path === second), 'the second part is not a model of its own');
    });

    test('a broken manifest, a missing blob and a file that is not a GGUF are skipped with a note', () => {
        for (const { path, because } of stores.broken) {
            const note = found.notes.find((n) => n.path === path);
            assert.ok(note != null, `a note for ${path}: ${JSON.stringify(found.notes)}`);
            assert.match(note.message, because);
        }
        assert.equal(found.notes.length, stores.broken.length, JSON.stringify(found.notes));
    });

    test('every folder looked in is reported, found or not', () => {
        const origins = new Set(found.folders.map((f) => f.origin));
        assert.deepEqual([...origins].sort(), ['headroom', 'huggingface', 'jan', 'lmstudio', 'ollama']);
        assert.ok(found.folders.some((f) => f.origin === 'jan' && !f.exists), 'Jan\'s older folders are looked in too');
    });

    test('npm run models prints the same list, as JSON and as a table', async () => {
        const env = { ...process.env, HOME: stores.home, XDG_DATA_HOME: '', XDG_CACHE_HOME: '', HF_HOME: '', HF_HUB_CACHE: '', OLLAMA_MODELS: '' };
        const asJson = await run('node', ['cli/models.ts', '--json', '--data-dir', stores.home], { cwd: root, env });
        assert.deepEqual(LocalModels.parse(JSON.parse(asJson.stdout)).models, found.models);
        const table = await run('node', ['cli/models.ts', '--data-dir', stores.home], { cwd: root, env });
        const lines = table.stdout.trim().split('\n');
        assert.match(lines[0] ?? '', /^NAME\s+FROM\s+ARCH\s+QUANT\s+SIZE\s+TRAINED CTX\s+COMPRESSION\s+PATH$/);
        for (const model of found.models) assert.ok(lines.some((line) => line.startsWith(`${model.name} `) && line.endsWith(model.path)), model.name);
        assert.equal(lines.filter((line) => line.startsWith('note: ')).length, found.notes.length);
    });
});
