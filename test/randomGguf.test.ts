// The random-weight GGUF writer: what it writes is what llama.cpp and node-llama-cpp read.
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { readGgufFileInfo } from 'node-llama-cpp';
import { bundledVocab, cacheDir, readRawMetadata, writeRandomLlamaGguf } from './support/randomGguf.ts';

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
