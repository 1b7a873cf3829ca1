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
import { runCli } from '../../bench/cliArgs.ts';
import { HELP_OPTION, helpText, usageLine, type CliSpec } from '../../common/cliHelp.ts';
import { HeadroomError } from '../../common/errors.ts';
import { ATTENTION_SHAPES, bundledVocab, LLAMA3_CHAT_TEMPLATE, slidingWindowLayers, vocabFor, writeRandomGguf, type AttentionShapeName, type BundledVocab } from '../support/randomGguf.ts';

const names = Object.keys(ATTENTION_SHAPES) as AttentionShapeName[];
const VOCABS: readonly BundledVocab[] = ['llama-bpe', 'llama-spm', 'qwen2', 'phi-3', 'gemma-4'];

const SPEC = {
    command: 'node test/tools/shapeGguf.ts',
    summary: 'Writes a random-weight GGUF with a released model\'s attention shape, so that its KV cache is exactly that model\'s; what does not touch the KV cache is shrunk unless --full-width.',
    positionals: '<out.gguf>',
    options: {
        shape: { type: 'string', value: names.join('|'), help: 'the model whose attention shape it takes', required: true },
        'full-width': { type: 'boolean', default: false, help: 'keep the model\'s own FFN width and a bundled tokenizer of its vocab\'s size' },
        ff: { type: 'string', value: '<n>', help: 'the FFN width', defaultText: '1024; the model\'s own with --full-width' },
        vocab: { type: 'string', value: VOCABS.join('|'), help: 'the bundled tokenizer', defaultText: 'llama-spm; llama-bpe with --chat; the model\'s own with --full-width' },
        layers: { type: 'string', value: '<n>', help: 'the number of layers, each of the model\'s shape', defaultText: 'the model\'s' },
        embd: { type: 'string', value: '<n>', help: 'the embedding width, head dim kept (not for qwen2)', defaultText: 'the model\'s' },
        chat: { type: 'boolean', default: false, help: 'Llama 3\'s tokenizer and chat template, for the app\'s chat path' },
        'dry-run': { type: 'boolean', default: false, help: 'say the size and the KV cache, write nothing' },
        help: HELP_OPTION,
    },
} as const satisfies CliSpec;

runCli(async () => {
    const { values, positionals } = parseArgs({ allowPositionals: true, options: SPEC.options });
    if (values.help === true) return void process.stdout.write(helpText(SPEC));
    const [outPath, ...extra] = positionals;
    if (outPath == null || values.shape == null) throw new HeadroomError('BAD_REQUEST', usageLine(SPEC));
    if (extra.length > 0) throw new HeadroomError('BAD_REQUEST', `one output file, not also ${extra.join(' ')}.`);
    if (!names.includes(values.shape as AttentionShapeName)) throw new HeadroomError('BAD_REQUEST', `--shape is one of ${names.join(', ')}, not "${values.shape}".`);
    const name = values.shape as AttentionShapeName;
    const count = (option: 'ff' | 'layers' | 'embd', fallback: number): number => {
        const value = values[option];
        const n = value == null ? fallback : Number(value);
        if (!Number.isInteger(n) || n <= 0) throw new HeadroomError('BAD_REQUEST', `--${option} wants a positive whole number, not "${value}".`);
        return n;
    };

    const { model, vocab: ownVocab, ...shape } = ATTENTION_SHAPES[name];
    const fullWidth = values['full-width'];
    if (values.vocab != null && !VOCABS.includes(values.vocab as BundledVocab)) throw new HeadroomError('BAD_REQUEST', `--vocab is one of ${VOCABS.join(', ')}, not "${values.vocab}".`);
    // the shape's own tokenizer at full width (its vocab's size); Llama 3's with --chat; else Llama 2's 32K, as before
    const vocab: BundledVocab = (values.vocab as BundledVocab | undefined) ?? (values.chat ? 'llama-bpe' : fullWidth ? ownVocab ?? vocabFor(shape.architecture) : 'llama-spm');
    const nLayer = count('layers', shape.nLayer);
    const nFf = count('ff', fullWidth ? shape.nFf : 1024);
    const options = {
        ...shape,
        outPath,
        vocabPath: await bundledVocab(vocab),
        ...(values.chat ? { chatTemplate: LLAMA3_CHAT_TEMPLATE } : {}),
        nLayer,
        nEmbd: count('embd', shape.nEmbd),
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
});
