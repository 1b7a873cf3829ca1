// Writes a random-weight GGUF with a released model's attention shape (ATTENTION_SHAPES in
// test/support/randomGguf.ts: layers, query / KV heads, head dim, window layers), so that its
// KV cache is exactly that model's, for benchmarking the KV cache on machines without the real
// model. By default what does not touch the KV cache is shrunk so that it fits and runs on a small
// CPU: the FFN (--ff, default 1024) and the vocab (Llama 2's 32K SentencePiece one). --full-width
// keeps the model's own FFN width and the bundled tokenizer of its vocab's size instead (Llama-3-8B:
// FFN 14,336, llama-bpe's 128,256 tokens; Mistral-7B v0.2: 14,336, llama-spm's 32,000), so that
// attention's share of each token is the real model's: what a benchmark a reviewer accepts needs
// (quantize it with our build's llama-quantize, bench/results/README.md). --vocab names a bundled
// tokenizer outright. --embd shrinks the embedding width too (the head dim is kept; not for qwen2,
// whose head dim is the width / heads); --layers keeps the per-layer shape with fewer or more layers.
// Llama-3-70B is 27 GiB at full width even so: --embd 2048 makes it 6.8 GiB. --chat gives it Llama
// 3's tokenizer and chat template, for what runs through the app's chat path (bench/followUp.ts).
//   node test/tools/shapeGguf.ts <out.gguf> --shape llama3-8b|mistral-7b|qwen3-8b|… [--full-width] [--ff n] [--vocab name] [--layers n] [--embd n] [--chat] [--dry-run]
import { parseArgs } from 'node:util';
import { ATTENTION_SHAPES, bundledVocab, LLAMA3_CHAT_TEMPLATE, slidingWindowLayers, vocabFor, writeRandomGguf, type AttentionShapeName, type BundledVocab } from '../support/randomGguf.ts';

const names = Object.keys(ATTENTION_SHAPES) as AttentionShapeName[];
const VOCABS: readonly BundledVocab[] = ['llama-bpe', 'llama-spm', 'qwen2', 'phi-3', 'gemma-4'];
const usage = `usage: node test/tools/shapeGguf.ts <out.gguf> --shape ${names.join('|')} [--full-width] [--ff n] [--vocab ${VOCABS.join('|')}] [--layers n] [--embd n] [--chat] [--dry-run]`;
const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
        shape: { type: 'string' },
        'full-width': { type: 'boolean', default: false },
        ff: { type: 'string' },
        vocab: { type: 'string' },
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

const { model, vocab: ownVocab, ...shape } = ATTENTION_SHAPES[name];
const fullWidth = values['full-width'];
if (values.vocab != null && !VOCABS.includes(values.vocab as BundledVocab)) throw new Error(`unknown vocab ${values.vocab}\n${usage}`);
// the shape's own tokenizer at full width (its vocab's size); Llama 3's with --chat; else Llama 2's 32K, as before
const vocab: BundledVocab = (values.vocab as BundledVocab | undefined) ?? (values.chat ? 'llama-bpe' : fullWidth ? ownVocab ?? vocabFor(shape.architecture) : 'llama-spm');
const nLayer = count(values.layers, shape.nLayer);
const nFf = count(values.ff, fullWidth ? shape.nFf : 1024);
const options = {
    ...shape,
    outPath,
    vocabPath: await bundledVocab(vocab),
    ...(values.chat ? { chatTemplate: LLAMA3_CHAT_TEMPLATE } : {}),
    nLayer,
    nEmbd: count(values.embd, shape.nEmbd),
    nFf,
    tensorType: 'f16',
    seed: 8,
    name: `Random ${model} ${fullWidth && nFf === shape.nFf ? 'shape (full width)' : 'attention shape'}${nLayer === shape.nLayer ? '' : `, ${nLayer} layers`}`,
    dryRun: values['dry-run'],
} as const;
const bytes = await writeRandomGguf(options);
const windowLayers = slidingWindowLayers(options).filter(Boolean).length;
const kvKiBPerLayerToken = (shape.nHeadKv * shape.headDim * 2 * 2) / 1024; // K and V in F16
process.stdout.write(
    `${outPath}: ${options.name}, FFN ${nFf}, vocab ${vocab}, ${(bytes / 2 ** 30).toFixed(2)} GiB${options.dryRun ? ' (not written)' : ''}; ` +
    `KV cache (F16) ${(nLayer - windowLayers) * kvKiBPerLayerToken} KiB per token` +
    `${windowLayers > 0 ? ` on the ${nLayer - windowLayers} global layer(s), plus ${windowLayers} layer(s) of a ${shape.slidingWindow}-token window` : ''}\n`,
);
