// Writes a random-weight GGUF with Llama-3-8B's attention shape (32 layers, 32 query / 8 KV
// heads, head dim 128, so the KV cache is exactly Llama-3-8B's) for benchmarking the KV cache
// on machines without the real model. The FFN is shrunk (--ff, default 1024) and the vocab is
// Llama 2's 32K SentencePiece one so that it fits and runs on a small CPU: neither changes the KV cache.
//   node test/tools/llama3ShapeGguf.ts <out.gguf> [--ff n]
import { parseArgs } from 'node:util';
import { bundledVocab, writeRandomLlamaGguf } from '../support/randomGguf.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { ff: { type: 'string', default: '1024' } } });
const outPath = positionals[0];
if (outPath == null) throw new Error('usage: node test/tools/llama3ShapeGguf.ts <out.gguf> [--ff n]');
const bytes = await writeRandomLlamaGguf({
    outPath, vocabPath: await bundledVocab('llama-spm'),
    nLayer: 32, nEmbd: 4096, nHead: 32, nHeadKv: 8, nFf: Number(values.ff), contextLength: 8192,
    ropeFreqBase: 500000, tensorType: 'f16', seed: 8, name: 'Random Llama-3-8B attention shape',
});
process.stdout.write(`${outPath}: ${(bytes / 2 ** 30).toFixed(2)} GiB\n`);
