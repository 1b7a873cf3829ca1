// Every architecture the head-level cache supports (HEADWISE_ARCHITECTURES), through the one
// seam in llama.cpp's graph (native/patches/0001): random-weight models with each
// architecture's real metadata, tensors and tokenizer, on our build against the stock binary.
// With every head full, and with a window as long as the context, greedy tokens and logits are
// the stock cache's; llama.cpp allocates what policy.ts's formula says; and for llama, qwen2,
// qwen3 and gemma3 (whose window layers attend a window shorter than the prompt) the streaming
// heads' logits are those of an independent forward pass that attends exactly sinks + window.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readGgufFileInfo } from 'node-llama-cpp';
import { kvBytes, type HeadPlan, type HeadPolicy } from '../common/kv/policy.ts';
import { contextCellsFor, HEADWISE_ARCHITECTURES, isWindowLayer, kvShapeFromMetadata, type KvShape } from '../common/modelShape.ts';
import { runProbe, type ProbeResult } from './support/kvProbe.ts';
import { LlamaReference, streamingVisibility } from './support/llamaReference.ts';
import { requiresNative } from './support/native.ts';
import { cachedRandomGguf, type RandomGgufOptions } from './support/randomGguf.ts';

const CONTEXT = 256;
const BATCH = 64;
// longer than every window below, shorter than the context
const PROMPT = Array.from({ length: 150 }, (_, i) => 300 + ((i * 7919) % 29000));
const GENERATE = 8;

interface Case {
    options: Omit<RandomGgufOptions, 'outPath' | 'vocabPath' | 'tensorType' | 'seed' | 'chatTemplate'>;
    /** The TypeScript reference implements the architecture: streaming logits are checked against it. */
    reference?: true;
}

const CASES: Case[] = [
    { options: { architecture: 'llama', nLayer: 3, nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 96, contextLength: 4096 }, reference: true },
    { options: { architecture: 'qwen2', nLayer: 3, nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 96, contextLength: 4096 }, reference: true },
    { options: { architecture: 'qwen3', nLayer: 3, nEmbd: 64, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 96, contextLength: 4096 }, reference: true },
    { options: { architecture: 'qwen3moe', nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 96, contextLength: 4096, experts: { count: 4, used: 2, feedForwardLength: 32 } } },
    {
        options: {
            architecture: 'mistral3', nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 96, contextLength: 4096,
            attentionTemperatureScale: 0.1, ropeScaling: { type: 'yarn', factor: 4, originalContextLength: 64 },
        },
    },
    { options: { architecture: 'phi3', nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 4, nFf: 96, contextLength: 4096 } },
    { options: { architecture: 'gemma2', nLayer: 4, nEmbd: 64, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 96, contextLength: 4096, slidingWindow: 32 } },
    { options: { architecture: 'gemma3', nLayer: 6, nEmbd: 64, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 96, contextLength: 4096, slidingWindow: 32, slidingWindowPattern: 3 }, reference: true },
];

function modelFor({ options }: Case): Promise<string> {
    // a 32K vocabulary for all (phi3 needs its own): small to load, and the prompt is token ids anyway
    const vocab = options.architecture === 'phi3' ? 'phi-3' : 'llama-spm';
    return cachedRandomGguf(`headwise-${options.architecture}-v2.gguf`, { ...options, vocab, tensorType: 'f32', seed: 11, chatTemplate: null });
}

/** Full heads in some layers, streaming in others, mixed in the rest; the model's window layers stay theirs. */
function mixedPlan(shape: KvShape, window: number, everyHead?: HeadPolicy): HeadPlan {
    const policy = Array.from({ length: shape.layers }, (_, layer) => Array.from({ length: shape.kvHeads }, (_, head): HeadPolicy => {
        if (isWindowLayer(shape, layer)) return 'window';
        if (everyHead != null) return everyHead;
        return layer % 3 === 0 ? 'full' : layer % 3 === 1 ? 'streaming' : (head % 2 === 0 ? 'full' : 'streaming');
    }));
    return { policy, sinks: 4, window, fullPlacement: 'cpu' };
}

function maxAbsDiff(a: readonly (readonly number[])[], b: readonly (ArrayLike<number> | undefined)[]): number {
    let max = 0;
    a.forEach((row, i) => row.forEach((value, j) => { max = Math.max(max, Math.abs(value - (b[i]?.[j] ?? Number.NaN))); }));
    return max;
}

/** The bytes of each kind of buffer llama.cpp reported. */
function allocated(result: ProbeResult): Record<'full' | 'streaming' | 'window', number> {
    const sum = (kind: string) => result.buffers.filter((b) => b.kind === kind).reduce((total, b) => total + b.bytes, 0);
    return { full: sum('full'), streaming: sum('streaming'), window: sum('window') };
}

describe('the head-level cache on every supported architecture', requiresNative(), () => {
    test('the cases cover every architecture Headroom claims', () => {
        assert.deepEqual(CASES.map((c) => c.options.architecture).sort(), [...HEADWISE_ARCHITECTURES].sort());
    });

    for (const testCase of CASES) {
        const { architecture } = testCase.options;
        test(architecture, async () => {
            const model = await modelFor(testCase);
            const metadata = (await readGgufFileInfo(model)).metadata as unknown as Record<string, unknown>;
            const shape = kvShapeFromMetadata(metadata, contextCellsFor(CONTEXT), BATCH);
            assert.ok(shape != null, 'the metadata describes the attention heads');
            const base = { model, contextSize: CONTEXT, batchSize: BATCH, prompt: PROMPT, generate: GENERATE, flashAttention: true, logits: true } as const;
            const stock = await runProbe({ ...base, build: 'stock' });

            const allFull = await runProbe({ ...base, build: 'headwise', plan: mixedPlan(shape, CONTEXT, 'full') });
            assert.ok(allFull.active, `the native cache took the model (${allFull.reason ?? ''})`);
            assert.deepEqual(allFull.generated, stock.generated, 'every head full: the stock cache\'s greedy tokens');
            assert.ok(maxAbsDiff(allFull.logits, stock.logits) < 1e-3, `and its logits (max diff ${maxAbsDiff(allFull.logits, stock.logits)})`);

            const wide = await runProbe({ ...base, build: 'headwise', plan: mixedPlan(shape, CONTEXT) });
            assert.deepEqual(wide.generated, stock.generated, 'a window as long as the context: the stock cache\'s greedy tokens');
            assert.ok(maxAbsDiff(wide.logits, stock.logits) < 1e-3, `and its logits (max diff ${maxAbsDiff(wide.logits, stock.logits)})`);

            const narrowPlan = mixedPlan(shape, 24);
            const narrow = await runProbe({ ...base, build: 'headwise', plan: narrowPlan });
            const planned = kvBytes(shape, narrowPlan, 'cpu');
            assert.deepEqual(allocated(narrow), { full: planned.full, streaming: planned.streaming, window: planned.window },
                'llama.cpp allocates what the formula says, window layers included');
            assert.ok(shape.windowLayers == null || planned.window > 0, 'the model\'s window layers keep their own cache');

            if (testCase.reference) {
                const reference = await LlamaReference.load(model);
                const tokens = [...PROMPT, ...narrow.generated.slice(0, -1)];
                const positions = new Set(narrow.generated.map((_, i) => PROMPT.length - 1 + i));
                const expected = reference.forward(tokens, streamingVisibility(narrowPlan.policy, narrowPlan.sinks, narrowPlan.window), positions);
                const rows = [...positions].map((position) => expected.get(position));
                const gap = maxAbsDiff(narrow.logits, rows);
                assert.ok(gap < 0.05, `streaming logits within 0.05 of the reference that attends sinks + window (max diff ${gap})`);
                assert.ok(maxAbsDiff(narrow.logits, stock.logits) > 10 * gap, 'and far from the full cache\'s');
            }
        });
    }
});
