// The random-weight GGUF writer: what it writes is what llama.cpp and node-llama-cpp read, and
// its sizes are the parameter counts of the models it imitates.
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { readGgufFileInfo } from 'node-llama-cpp';
import { ATTENTION_SHAPES, bundledVocab, cacheDir, readRawMetadata, slidingWindowLayers, writeRandomGguf, writeRandomLlamaGguf, type AttentionShapeName } from './support/randomGguf.ts';

test('metadata and tokenizer round-trip; sizes are exact, also for an 8B shape', async () => {
    const vocabPath = await bundledVocab('llama-spm');
    const outPath = path.join(cacheDir, 'roundtrip-test.gguf');
    const shape = { vocabPath, nLayer: 3, nEmbd: 64, nHead: 8, nHeadKv: 2, nFf: 96, contextLength: 2048, seed: 3 };
    const size = await writeRandomLlamaGguf({ ...shape, outPath, tensorType: 'f32', chatTemplate: null, name: 'roundtrip' });
    assert.equal((await stat(outPath)).size, size);

    const info = await readGgufFileInfo(outPath);
    const llama = info.metadata.llama;
    assert.ok(llama != null);
    assert.equal(info.metadata.general.name, 'roundtrip');
    assert.equal(llama.block_count, 3);
    assert.equal(llama.embedding_length, 64);
    assert.equal(llama.attention.head_count_kv, 2);
    assert.equal(info.metadata.tokenizer.chat_template, undefined);
    assert.equal(info.tensorInfo?.length, 3 + 9 * 3);
    const vocab = await readRawMetadata(vocabPath);
    const written = await readRawMetadata(outPath);
    for (const [key, raw] of vocab) {
        if (key.startsWith('tokenizer.')) assert.ok(written.get(key)?.equals(raw), `${key} copied byte for byte`);
    }

    // Llama-3-8B's shape in F16: 8.03 B parameters, about 16 GB; computed, not written.
    const eightB = await writeRandomLlamaGguf({
        vocabPath: await bundledVocab('llama-bpe'), outPath: path.join(cacheDir, 'never-written.gguf'), dryRun: true,
        nLayer: 32, nEmbd: 4096, nHead: 32, nHeadKv: 8, nFf: 14336, contextLength: 8192,
    });
    const params = 2 * 128256 * 4096 + 32 * (4096 * 4096 * 2 + 2 * 4096 * 1024 + 3 * 4096 * 14336);
    assert.ok(Math.abs(eightB - params * 2) < 64 * 1024 * 1024, `8B file is ${eightB} bytes`);
});

test('a mixture of experts at full size: Qwen3-30B-A3B in F16 is its 30.5 B parameters', async () => {
    // Qwen/Qwen3-30B-A3B config.json: 48 layers, width 2048, 32 query / 4 KV heads of 128,
    // 128 experts of width 768 with 8 used, 151,936 tokens (Qwen2's tokenizer), untied output.
    const bytes = await writeRandomGguf({
        architecture: 'qwen3moe', outPath: path.join(cacheDir, 'never-written.gguf'), dryRun: true,
        nLayer: 48, nEmbd: 2048, nHead: 32, nHeadKv: 4, headDim: 128, nFf: 6144, contextLength: 40960,
        experts: { count: 128, used: 8, feedForwardLength: 768 },
    });
    const attention = 2048 * 4096 * 2 + 2048 * 512 * 2;
    const experts = 128 * 3 * 2048 * 768;
    const router = 2048 * 128;
    const params = 2 * 151936 * 2048 + 48 * (attention + experts + router);
    // The model card: 30.5 B in total (3.3 B active).
    assert.ok(Math.abs(params - 30.5e9) < 0.05e9, `${params} parameters`);
    assert.ok(Math.abs(bytes - params * 2) < 64 * 1024 * 1024, `30B-A3B file is ${bytes} bytes`);
});

test('each attention shape at full size has its model\'s published parameter count; Gemma 3 windows 5 layers in 6', async () => {
    // Hugging Face's counts from the safetensors, except Gemma 3 12B: its technical report's
    // 1,012 M embedding + 10,759 M non-embedding parameters, the vision encoder left out.
    // Each is written with its family's tokenizer (within 0.2 % of the real vocab size).
    const published: Record<AttentionShapeName, number> = {
        'llama3-8b': 8.03e9, 'mistral-7b': 7.24e9, 'qwen3-8b': 8.19e9, 'qwen2.5-32b': 32.8e9, 'llama3-70b': 70.6e9, 'gemma3-12b': 11.77e9, 'mistral-nemo-12b': 12.2e9,
    };
    for (const name of Object.keys(ATTENTION_SHAPES) as AttentionShapeName[]) {
        const { model, ...shape } = ATTENTION_SHAPES[name];
        const bytes = await writeRandomGguf({ ...shape, outPath: path.join(cacheDir, 'never-written.gguf'), dryRun: true });
        const params = bytes / 2; // F16
        assert.ok(Math.abs(params / published[name] - 1) < 0.01, `${model}: ${(params / 1e9).toFixed(2)} B parameters, published ${published[name] / 1e9} B`);
    }
    const gemma = slidingWindowLayers(ATTENTION_SHAPES['gemma3-12b']);
    assert.equal(gemma.filter(Boolean).length, 40);
    assert.deepEqual(gemma.slice(0, 12), [true, true, true, true, true, false, true, true, true, true, true, false]);
});
