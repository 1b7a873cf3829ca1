// The pure parts of the Models view: the catalog file and its agreement with the published
// shapes the engine tests use, where each app's folders are, split-part names, download speed
// and time left, and the models-folder setting.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isRemoteModelSource } from '../../common/models.ts';
import { RELOAD_SETTINGS, Settings } from '../../common/settings.ts';
import { defaultModelsFolder, modelSearchFolders } from '../../backend/models/folders.ts';
import { isLaterSplitPart, splitParts } from '../../backend/models/gguf.ts';
import { CATALOG } from '../../backend/models/service.ts';
import { TransferRate } from '../../backend/models/transferRate.ts';
import { ATTENTION_SHAPES, type AttentionShapeName } from '../support/randomGguf.ts';

describe('the catalog', () => {
    test('holds the long-context models the issue names, each with what a verdict needs', () => {
        assert.deepEqual(CATALOG.models.map((m) => m.id), [
            'qwen3-8b', 'qwen3-14b', 'qwen2.5-7b-instruct-1m', 'llama-3.1-8b-instruct', 'gemma-3-12b-it', 'mistral-nemo-instruct-2407', 'phi-4-mini-instruct',
        ]);
        for (const model of CATALOG.models) {
            assert.match(model.uri, /^hf:[\w.-]+\/[\w.-]+-GGUF:Q4_K_M$/, model.id);
            assert.equal(model.quantization, 'Q4_K_M');
            assert.ok(model.trainContextSize >= 32768, `${model.id} is a long-context model`);
            assert.equal(model.heads % model.kvHeads, 0, `${model.id}: query heads come in whole groups per KV head`);
            // The size and the shape agree: a Q4_K_M file holds about 4.5 to 6 bits per weight (Q, K, V
            // and output projections, three FFN matrices per layer, embeddings and output head).
            const { layers, embeddingLength: e, heads, kvHeads, headDim, feedForwardLength: ff, vocabSize } = model;
            const weights = layers * (2 * e * heads * headDim + 2 * e * kvHeads * headDim + 3 * e * ff) + 2 * vocabSize * e;
            const bitsPerWeight = (model.sizeBytes * 8) / weights;
            assert.ok(bitsPerWeight > 4.3 && bitsPerWeight < 6.3, `${model.id}: ${bitsPerWeight.toFixed(2)} bits per weight`);
        }
        assert.match(CATALOG.source, /published config\.json/);
        assert.match(CATALOG.source, /not downloaded or checked here/);
    });

    test('agrees with the published shapes the engine tests run at', () => {
        const same: Record<string, AttentionShapeName> = { 'qwen3-8b': 'qwen3-8b', 'gemma-3-12b-it': 'gemma3-12b', 'mistral-nemo-instruct-2407': 'mistral-nemo-12b', 'llama-3.1-8b-instruct': 'llama3-8b' };
        for (const [id, shapeName] of Object.entries(same)) {
            const model = CATALOG.models.find((m) => m.id === id);
            const shape = ATTENTION_SHAPES[shapeName];
            assert.ok(model != null);
            assert.deepEqual(
                [model.architecture, model.layers, model.heads, model.kvHeads, model.headDim, model.embeddingLength, model.feedForwardLength],
                [shape.architecture, shape.nLayer, shape.nHead, shape.nHeadKv, shape.headDim, shape.nEmbd, shape.nFf], id,
            );
        }
    });
});

describe('where models are', () => {
    const home = '/home/ada';
    test('Headroom\'s folder follows each platform\'s convention', () => {
        assert.equal(defaultModelsFolder({ home, env: {}, platform: 'linux' }), '/home/ada/.local/share/headroom/models');
        assert.equal(defaultModelsFolder({ home, env: { XDG_DATA_HOME: '/data' }, platform: 'linux' }), '/data/headroom/models');
        assert.equal(defaultModelsFolder({ home, env: { XDG_DATA_HOME: 'relative' }, platform: 'linux' }), '/home/ada/.local/share/headroom/models');
        assert.equal(defaultModelsFolder({ home, env: {}, platform: 'darwin' }), '/home/ada/Library/Application Support/Headroom/models');
        assert.equal(defaultModelsFolder({ home: 'C:\\Users\\ada', env: { LOCALAPPDATA: 'D:\\Local' }, platform: 'win32' }), 'D:\\Local\\Headroom\\models');
        assert.equal(defaultModelsFolder({ home: 'C:\\Users\\ada', env: {}, platform: 'win32' }), 'C:\\Users\\ada\\AppData\\Local\\Headroom\\models');
    });

    test('every app\'s folders, moved where the apps\' own variables move them', () => {
        const folders = (env: Record<string, string>) => modelSearchFolders({ home, env, platform: 'linux' }, '/models').map((f) => `${f.origin} ${f.layout} ${f.path}`);
        assert.deepEqual(folders({}), [
            'headroom tree /models',
            'lmstudio tree /home/ada/.lmstudio/models',
            'lmstudio tree /home/ada/.cache/lm-studio/models',
            'ollama ollama /home/ada/.ollama/models',
            'jan tree /home/ada/jan/models',
            'jan tree /home/ada/.local/share/Jan/data/models',
            'jan tree /home/ada/.local/share/Jan/data/llamacpp/models',
            'huggingface huggingface /home/ada/.cache/huggingface/hub',
        ]);
        const moved = folders({ OLLAMA_MODELS: '/srv/ollama', HF_HOME: '/srv/hf' });
        assert.ok(moved.includes('ollama ollama /srv/ollama'));
        assert.ok(moved.includes('huggingface huggingface /srv/hf/hub'));
        assert.ok(folders({ HF_HUB_CACHE: '/srv/hub', HF_HOME: '/srv/hf' }).includes('huggingface huggingface /srv/hub'));
    });

    test('split models are named by their first part', () => {
        assert.deepEqual(splitParts('/m/Big-Q4_K_M-00001-of-00003.gguf'), ['/m/Big-Q4_K_M-00001-of-00003.gguf', '/m/Big-Q4_K_M-00002-of-00003.gguf', '/m/Big-Q4_K_M-00003-of-00003.gguf']);
        assert.deepEqual(splitParts('/m/small.gguf'), ['/m/small.gguf']);
        assert.equal(isLaterSplitPart('/m/Big-00002-of-00003.gguf'), true);
        assert.equal(isLaterSplitPart('/m/Big-00001-of-00003.gguf'), false);
        assert.equal(isLaterSplitPart('/m/small.gguf'), false);
    });

    test('a model address is an hf: URI or an http(s) URL; anything else is a path', () => {
        for (const source of ['hf:Qwen/Qwen3-8B-GGUF:Q4_K_M', 'HF:a/b/c.gguf', 'https://example.com/m.gguf', ' http://127.0.0.1:8/m.gguf']) assert.equal(isRemoteModelSource(source), true, source);
        for (const source of ['/models/m.gguf', 'models/m.gguf', 'C:\\models\\m.gguf', 'ftp://example.com/m.gguf', 'hf']) assert.equal(isRemoteModelSource(source), false, source);
    });
});

describe('download speed and time left', () => {
    test('over the last seconds, so a stall shows as a falling speed', () => {
        const rate = new TransferRate();
        assert.equal(rate.bytesPerSecond, 0);
        assert.equal(rate.secondsFor(100), null, 'no time left before there is a speed');
        for (let second = 0; second <= 10; second++) rate.add(second * 1_000_000, second * 1000);
        assert.equal(rate.bytesPerSecond, 1_000_000);
        assert.equal(rate.secondsFor(5_000_000), 5);
        // Nothing more for four seconds: the window still holds one second of progress.
        rate.add(10_000_000, 14_000);
        const stalling: number = rate.bytesPerSecond;
        assert.ok(stalling > 0 && stalling < 300_000, `${stalling} B/s`);
        rate.add(10_000_000, 20_000);
        assert.equal(rate.bytesPerSecond, 0);
        assert.equal(rate.secondsFor(1), null);
    });
});

describe('the models folder setting', () => {
    test('takes an absolute path or null (the default), and needs no reload', () => {
        assert.equal(Settings.shape.modelsFolder.safeParse('/data/models').success, true);
        assert.equal(Settings.shape.modelsFolder.safeParse('D:\\models').success, true);
        assert.equal(Settings.shape.modelsFolder.safeParse(null).success, true);
        assert.match(Settings.shape.modelsFolder.safeParse('models').error?.issues[0]?.message ?? '', /must be an absolute path/);
        assert.equal(RELOAD_SETTINGS.has('modelsFolder'), false);
    });
});
