// Follow-up questions on a document already in the cache, the path people take most: after a
// reply, a chat goes back to the end of its prompt and reads the reply's text and the next
// question (what re-rendering a reply does). Each case compares the logits after that follow-up
// with a fresh read of the whole conversation, and counts what was read again. Also: a prompt
// whose last chunk is one token, checkpoints of sliding-window models, quantized streaming heads,
// and models whose attention the head split would break. Each llama.cpp run is its own process.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readGgufFileInfo } from 'node-llama-cpp';
import { kvBytes, type HeadPlan, type HeadPolicy } from '../common/kv/policy.ts';
import { contextCellsFor, isWindowLayer, kvShapeFromMetadata, type KvShape } from '../common/modelShape.ts';
import { runProbe, type ProbeRequest } from './support/kvProbe.ts';
import { LlamaReference, streamingVisibility } from './support/llamaReference.ts';
import { requiresNative } from './support/native.ts';
import { cachedRandomGguf } from './support/randomGguf.ts';

const CONTEXT = 2048;
const BATCH = 128;
const tokens = (length: number, seed: number) => Array.from({ length }, (_, i) => 300 + ((i * 7919 + seed * 104729) % 29000));
const QUESTION = tokens(24, 99);

function maxAbsDiff(a: readonly number[], b: ArrayLike<number>): number {
    let max = 0;
    for (const [i, value] of a.entries()) max = Math.max(max, Math.abs(value - (b[i] ?? Number.NaN)));
    return max;
}

async function shapeOf(model: string): Promise<KvShape> {
    const metadata = (await readGgufFileInfo(model)).metadata as unknown as Record<string, unknown>;
    const shape = kvShapeFromMetadata(metadata, contextCellsFor(CONTEXT), BATCH);
    assert.ok(shape != null);
    return shape;
}

function planOf(shape: KvShape, window: number, head: (layer: number, head: number) => HeadPolicy): HeadPlan {
    const policy = Array.from({ length: shape.layers }, (_, layer) => Array.from({ length: shape.kvHeads }, (_, h): HeadPolicy => (isWindowLayer(shape, layer) ? 'window' : head(layer, h))));
    return { policy, sinks: 4, window, fullPlacement: 'cpu' };
}

// Gemma 3's layout (5 of 6 layers windowed; here 2 of 3, window 64), small and f32 so logits compare tightly
const gemma = () => cachedRandomGguf('followup-gemma3-v1.gguf', {
    architecture: 'gemma3', nLayer: 6, nEmbd: 64, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 96, contextLength: 4096,
    slidingWindow: 64, slidingWindowPattern: 3, vocab: 'llama-spm', tensorType: 'f32', seed: 21, chatTemplate: null,
});
const llama = () => cachedRandomGguf('followup-llama-v1.gguf', {
    architecture: 'llama', nLayer: 3, nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 96, contextLength: 4096, vocab: 'llama-spm', tensorType: 'f32', seed: 22, chatTemplate: null,
});

/** A chat's follow-up on our build: the prompt, a reply of `reply` tokens, then back to the prompt's end and on with reply + question. */
async function followUp(base: Omit<ProbeRequest, 'generate' | 'build'>, reply: number) {
    const chat = await runProbe({ ...base, build: 'headwise', generate: reply });
    // what the chat reads on the next turn: the reply's text (every generated token) and the question
    const read = [...chat.generated, ...QUESTION];
    const again = await runProbe({ ...base, build: 'headwise', generate: reply, followUp: read });
    assert.deepEqual(again.generated, chat.generated, 'the same reply');
    assert.ok(again.followUp != null);
    return { read, generated: chat.generated, followUp: again.followUp, refusals: again.refusals };
}

describe('follow-ups on the head-level cache', requiresNative(), () => {
    describe('a model\'s own window layers (Gemma-shaped, window 64) keep the window before the prompt\'s end', () => {
        for (const reply of [300, 800, 1500]) {
            test(`after a ${reply}-token reply: the stock cache's logits for a fresh read of the whole conversation`, async () => {
                const model = await gemma();
                const shape = await shapeOf(model);
                const prompt = tokens(200, 1);
                // every head full: only the window layers can forget, so only they can be wrong
                const plan = planOf(shape, 128, () => 'full');
                const base = { model, contextSize: CONTEXT, batchSize: BATCH, prompt, flashAttention: true, plan } as const;
                const chat = await followUp(base, reply);
                // the first token after the prompt attends the whole window before the prompt's end: where a lost cell shows most
                // (float noise between batchings is ~3e-3 here; the window layers missing 40 positions move these logits by ~6e-2)
                const stock = { model, contextSize: CONTEXT, batchSize: BATCH, flashAttention: true, build: 'stock', generate: 1, logits: true } as const;
                const freshFirst = await runProbe({ ...stock, prompt: [...prompt, ...chat.read.slice(0, 1)] });
                const first = maxAbsDiff(chat.followUp.firstLogits, freshFirst.logits[0] ?? []);
                assert.ok(first < 1e-2, `the follow-up's first logits are a fresh read's (max diff ${first})`);
                const fresh = await runProbe({ ...stock, prompt: [...prompt, ...chat.read] });
                const gap = maxAbsDiff(chat.followUp.logits, fresh.logits[0] ?? []);
                assert.ok(gap < 1e-2, `and its last (max diff ${gap})`);
                assert.equal(chat.followUp.evaluatedTokens, chat.read.length, 'and only the reply and the question were read: the document stayed in the cache');
                // and the independent forward pass, whose window layers attend their last 64 positions
                const all = [...prompt, ...chat.read];
                const expected = (await LlamaReference.load(model)).forward(all, () => true, new Set([all.length - 1])).get(all.length - 1);
                const reference = maxAbsDiff(chat.followUp.logits, expected ?? []);
                assert.ok(reference < 0.05, `within 0.05 of the reference (max diff ${reference})`);
            });
        }
    });

    describe('streaming heads (llama, window 64) against an independent forward pass that attends sinks + window', () => {
        for (const reply of [300, 800, 1500]) {
            test(`after a ${reply}-token reply`, async () => {
                const model = await llama();
                const shape = await shapeOf(model);
                const prompt = tokens(300, 2);
                const plan = planOf(shape, 64, (layer, head) => (layer === 1 && head === 0 ? 'full' : 'streaming'));
                const chat = await followUp({ model, contextSize: CONTEXT, batchSize: BATCH, prompt, flashAttention: true, plan }, reply);
                assert.equal(chat.followUp.evaluatedTokens, chat.read.length, 'only the reply and the question were read');
                const all = [...prompt, ...chat.read];
                const reference = await LlamaReference.load(model);
                const expected = reference.forward(all, streamingVisibility(plan.policy, plan.sinks, plan.window), new Set([prompt.length, all.length - 1]));
                const first = maxAbsDiff(chat.followUp.firstLogits, expected.get(prompt.length) ?? []);
                const gap = maxAbsDiff(chat.followUp.logits, expected.get(all.length - 1) ?? []);
                assert.ok(first < 0.05 && gap < 0.05, `the first and last logits within 0.05 of the reference (max diff ${first}, ${gap})`);
            });
        }
    });

    test('a prompt whose last 128-token chunk holds one token keeps its window: the next turn does not read the document again', async () => {
        const model = await llama();
        const shape = await shapeOf(model);
        const plan = planOf(shape, 64, (layer, head) => (layer === 1 && head === 0 ? 'full' : 'streaming'));
        for (const length of [129, 257, 385]) {
            const prompt = tokens(length, 3);
            const base = { model, contextSize: CONTEXT, batchSize: BATCH, prompt, flashAttention: true, plan } as const;
            const chat = await followUp(base, 200);
            assert.deepEqual(chat.refusals, [], `${length} tokens: the streaming heads kept the window before the prompt's end`);
            assert.equal(chat.followUp.evaluatedTokens, chat.read.length, `${length} tokens: only the reply and the question were read`);
            const fresh = await runProbe({ ...base, build: 'headwise', prompt: [...prompt, ...chat.read.slice(0, 1)], generate: 1, logits: true });
            const gap = maxAbsDiff(chat.followUp.firstLogits, fresh.logits[0] ?? []);
            assert.ok(gap < 1e-2, `${length} tokens: a fresh read's logits after the prompt (max diff ${gap})`);
        }
    });

    test('a checkpoint of a sliding-window model holds the window and streaming heads, not the full ones', async (t) => {
        const model = await gemma();
        const shape = await shapeOf(model);
        const plan = planOf(shape, 64, (_, head) => (head === 0 ? 'full' : 'streaming'));
        const prompt = tokens(1500, 4);
        const result = await runProbe({ model, contextSize: CONTEXT, batchSize: BATCH, prompt, flashAttention: true, plan, build: 'headwise', generate: 1, checkpoint: true });
        assert.ok(result.checkpoint != null);
        const { checkpointBytes, stateBytes } = result.checkpoint;
        // what the full heads hold of the prompt: before, a checkpoint copied them too (the whole state)
        const fullHeadBytes = plan.policy.flat().filter((p) => p === 'full').length * prompt.length * shape.bytesPerHeadToken;
        const windowBytes = kvBytes(shape, plan, 'cpu');
        t.diagnostic(`checkpoint ${checkpointBytes} bytes, the whole state (what a checkpoint copied before) ${stateBytes} bytes; full heads hold ${fullHeadBytes} of it`);
        assert.ok(checkpointBytes <= windowBytes.streaming + windowBytes.window + 64 * 1024, `no more than the window and streaming caches (${checkpointBytes})`);
        assert.ok(stateBytes - checkpointBytes >= 0.9 * fullHeadBytes, 'the full heads stay out of it');
    });
});

describe('models the head split would break load with the stock cache, and llama.cpp says why', requiresNative(), () => {
    const cases = [
        { architecture: 'mpt', why: /ALiBi position biases/, file: 'refused-mpt-v1.gguf' },
        { architecture: 't5', why: /attention bias \(kq_b\)/, file: 'refused-t5-v1.gguf' },
    ] as const;
    for (const { architecture, why, file } of cases) {
        test(architecture, async () => {
            const model = await cachedRandomGguf(file, { architecture, nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 4, nFf: 96, contextLength: 2048, tensorType: 'f32', seed: 23, chatTemplate: null });
            const policy: HeadPolicy[][] = [['full', 'streaming', 'streaming', 'streaming'], ['full', 'streaming', 'streaming', 'streaming']];
            // T5's decoder needs its encoder's output first, which node-llama-cpp does not drive: the context alone
            const evaluate = architecture !== 't5';
            const base = { model, contextSize: 512, batchSize: 64, prompt: evaluate ? tokens(40, 5) : [], generate: evaluate ? 4 : 0 } as const;
            const refused = await runProbe({ ...base, build: 'headwise', plan: { policy, sinks: 4, window: 16, fullPlacement: 'cpu' } });
            assert.equal(refused.active, false, 'the stock cache');
            assert.match(refused.reason ?? '', why);
            assert.ok(refused.stockBuffers.length > 0, 'llama.cpp made its standard cache');
            if (evaluate) {
                const stock = await runProbe({ ...base, build: 'stock' });
                assert.deepEqual(refused.generated, stock.generated, 'and runs as the stock binary does');
            }
        });
    }
});
