// Writes a random-weight GGUF with a released model's attention shape (ATTENTION_SHAPES in
// test/support/randomGguf.ts: layers, query / KV heads, head dim, window layers), so that its
// KV cache is exactly that model's, for benchmarking the KV cache on machines without the real
// model. What does not touch the KV cache is shrunk so that it fits and runs on a small CPU: the
// FFN (--ff, default 1024) and the vocab (Llama 2's 32K SentencePiece one). --embd shrinks the
// embedding width too (the head dim is kept; not for qwen2, whose head dim is the width / heads);
// --layers keeps the per-layer shape with fewer or more layers. Llama-3-70B is 27 GiB at full
// width even so: --embd 2048 makes it 6.8 GiB. --chat gives it Llama 3's tokenizer and chat
// template instead, for what runs through the app's chat path (bench/followUp.ts).
//   node test/tools/shapeGguf.ts <out.gguf> --shape llama3-8b|qwen3-8b|… [--ff n] [--layers n] [--embd n] [--chat] [--dry-run]
import { parseArgs } from 'node:util';
import { ATTENTION_SHAPES, bundledVocab, LLAMA3_CHAT_TEMPLATE, slidingWindowLayers, writeRandomGguf, type AttentionShapeName } from '../support/randomGguf.ts';

const names = Object.keys(ATTENTION_SHAPES) as AttentionShapeName[];
const usage = `usage: node test/tools/shapeGguf.ts <out.gguf> --shape ${names.join('|')} [--ff n] [--layers n] [--embd n] [--chat] [--dry-run]`;
const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
        shape: { type: 'string' },
        ff: { type: 'string', default: '1024' },
        layers: { type: 'string' },
        embd: { type: 'string' },
        chat: { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
    },
});
const outPath = positionals[0];
const name = values.shape as AttentionShapeName | undefined;
if (outPath == null || name == null || !(name in ATTENTION_SHAPES)) throw new Error(usage);
const count = (value: string | undefined, fallback: number): number => {
    const n = value == null ? fallback : Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`not a positive whole number: ${value}\n${usage}`);
    return n;
};

const { model, ...shape } = ATTENTION_SHAPES[name];
const nLayer = count(values.layers, shape.nLayer);
const options = {
    ...shape,
    outPath,
    vocabPath: await bundledVocab(values.chat ? 'llama-bpe' : 'llama-spm'),
    ...(values.chat ? { chatTemplate: LLAMA3_CHAT_TEMPLATE } : {}),
    nLayer,
    nEmbd: count(values.embd, shape.nEmbd),
    nFf: count(values.ff, 1024),
    tensorType: 'f16',
    seed: 8,
    name: `Random ${model} attention shape${nLayer === shape.nLayer ? '' : `, ${nLayer} layers`}`,
    dryRun: values['dry-run'],
} as const;
const bytes = await writeRandomGguf(options);
const windowLayers = slidingWindowLayers(options).filter(Boolean).length;
const kvKiBPerLayerToken = (shape.nHeadKv * shape.headDim * 2 * 2) / 1024; // K and V in F16
process.stdout.write(
    `${outPath}: ${options.name}, ${(bytes / 2 ** 30).toFixed(2)} GiB${options.dryRun ? ' (not written)' : ''}; ` +
    `KV cache (F16) ${(nLayer - windowLayers) * kvKiBPerLayerToken} KiB per token` +
    `${windowLayers > 0 ? ` on the ${nLayer - windowLayers} global layer(s), plus ${windowLayers} layer(s) of a ${shape.slidingWindow}-token window` : ''}\n`,
);
