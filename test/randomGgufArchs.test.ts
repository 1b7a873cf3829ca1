// Every architecture the random-weight writer knows, through node-llama-cpp's stock llama.cpp:
// the file reads back with its architecture and shape, loads, evaluates a prompt longer than
// any sliding window with the window and global layers llama.cpp should make of it, and
// generates finite, greedy, deterministic tokens. Then the options that change attention
// (window, temperature) are shown to change it where, and only where, they should.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { getLlama, LlamaLogLevel, readGgufFileInfo, type ControlledEvaluateInputItem, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import { bundledVocab, slidingWindowLayers, writeRandomGguf, type RandomGgufOptions } from './support/randomGguf.ts';

const CONTEXT = 256;
const PROMPT_TOKENS = 160;
const GENERATE = 8;
// Smaller than the prompt, so that it spans batches; llama.cpp also sizes its output buffer by
// it (batch × vocabulary logits), which is slow to set up at 262K tokens.
const BATCH = 64;
const TEXT = 'The committee met on Tuesday to review the long report, chapter by chapter, and to agree on what it should say about costs, risks and the schedule for the next three years. ';

interface Case {
    label: string;
    options: Omit<RandomGgufOptions, 'outPath' | 'vocabPath'>;
    /**
     * Llama 2's 32K tokenizer instead of the architecture's own where another case loads that
     * one already: a 150K–262K-token vocabulary takes seconds to load here.
     */
    smallVocab?: true;
    /** Architecture metadata beyond the shape, by its key under `<architecture>.`. */
    metadata?: Record<string, unknown>;
    /** Tensors the file must have, with their ggml dims (row length first). */
    tensors: Record<string, number[]>;
    /** Tensors it must not have. */
    absent?: string[];
}

const CASES: Case[] = [
    {
        label: 'llama, F32, GQA 2:1',
        options: { architecture: 'llama', nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 128, contextLength: 4096, tensorType: 'f32' },
        metadata: { 'rope.freq_base': 500000 },
        tensors: { 'output.weight': [64, 128256], 'blk.1.attn_k.weight': [64, 32], 'blk.1.ffn_gate.weight': [64, 128] },
    },
    {
        label: 'qwen2, GQA 4:1, q/k/v biases',
        options: { architecture: 'qwen2', nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 1, nFf: 128, contextLength: 4096 },
        tensors: { 'blk.0.attn_q.bias': [64], 'blk.0.attn_k.bias': [16], 'blk.1.attn_v.bias': [16], 'output.weight': [64, 151936] },
    },
    {
        label: 'qwen3, head dim 32 ≠ 64 / 4, q/k norms',
        smallVocab: true,
        options: { architecture: 'qwen3', nLayer: 3, nEmbd: 64, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 128, contextLength: 4096 },
        tensors: { 'blk.0.attn_q.weight': [64, 128], 'blk.0.attn_output.weight': [128, 64], 'blk.2.attn_q_norm.weight': [32], 'blk.2.attn_k_norm.weight': [32] },
        absent: ['blk.0.attn_q.bias'],
    },
    {
        label: 'qwen3moe, 8 experts, 2 used',
        smallVocab: true,
        options: {
            architecture: 'qwen3moe', nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 1, headDim: 32, nFf: 128, contextLength: 4096,
            experts: { count: 8, used: 2, feedForwardLength: 32 },
        },
        metadata: { expert_count: 8, expert_used_count: 2, expert_feed_forward_length: 32 },
        tensors: {
            'blk.0.ffn_gate_inp.weight': [64, 8], 'blk.0.ffn_gate_exps.weight': [64, 32, 8],
            'blk.0.ffn_up_exps.weight': [64, 32, 8], 'blk.1.ffn_down_exps.weight': [32, 64, 8], 'blk.1.attn_k_norm.weight': [32],
        },
        absent: ['blk.0.ffn_gate.weight', 'blk.0.ffn_up.weight'],
    },
    {
        label: 'mistral3, YaRN from 64 tokens, attention temperature 0.1',
        smallVocab: true,
        options: {
            architecture: 'mistral3', nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 128, contextLength: 4096,
            ropeScaling: { type: 'yarn', originalContextLength: 64, betaFast: 32, betaSlow: 1, logMultiplier: 1 },
            attentionTemperatureScale: 0.1,
        },
        metadata: {
            'rope.scaling.type': 'yarn', 'rope.scaling.factor': 64, 'rope.scaling.original_context_length': 64,
            'rope.scaling.yarn_beta_fast': 32, 'rope.scaling.yarn_beta_slow': 1, 'rope.scaling.yarn_log_multiplier': 1,
            'attention.temperature_scale': Math.fround(0.1),
        },
        tensors: { 'blk.0.attn_q.weight': [64, 128], 'blk.0.attn_k.weight': [64, 64] },
    },
    {
        label: 'phi3, fused qkv and gate/up, no window',
        options: { architecture: 'phi3', nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 4, nFf: 128, contextLength: 4096 },
        tensors: { 'blk.0.attn_qkv.weight': [64, 192], 'blk.0.ffn_up.weight': [64, 256], 'blk.0.ffn_down.weight': [128, 64] },
        absent: ['blk.0.attn_q.weight', 'blk.0.ffn_gate.weight'],
    },
    {
        // llama.cpp reads Phi-3's window and switches it off (llama_model_phi3::load_arch_hparams).
        label: 'phi3, GQA 2:1, 32-token window',
        options: { architecture: 'phi3', nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 128, contextLength: 4096, slidingWindow: 32 },
        metadata: { 'attention.sliding_window': 32 },
        tensors: { 'blk.1.attn_qkv.weight': [64, 128] },
    },
    {
        label: 'gemma2, window on every other layer, softcaps',
        smallVocab: true,
        options: { architecture: 'gemma2', nLayer: 4, nEmbd: 64, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 128, contextLength: 4096, slidingWindow: 32 },
        metadata: { 'attention.sliding_window': 32, attn_logit_softcapping: 50, final_logit_softcapping: 30 },
        tensors: { 'token_embd.weight': [64, 32000], 'blk.3.post_attention_norm.weight': [64], 'blk.3.post_ffw_norm.weight': [64] },
        absent: ['output.weight', 'blk.0.attn_q_norm.weight'],
    },
    {
        label: 'gemma3, head dim 256, 5 window layers then 1 global',
        options: { architecture: 'gemma3', nLayer: 7, nEmbd: 128, nHead: 4, nHeadKv: 2, headDim: 256, nFf: 128, contextLength: 4096, slidingWindow: 32 },
        metadata: { 'attention.sliding_window': 32, 'rope.freq_base': 1e6 },
        tensors: {
            'token_embd.weight': [128, 262144], 'blk.0.attn_q.weight': [128, 1024], 'blk.0.attn_v.weight': [128, 512], 'blk.6.attn_q_norm.weight': [256],
            'blk.6.post_attention_norm.weight': [128], 'blk.6.post_ffw_norm.weight': [128],
        },
        absent: ['output.weight'],
    },
];

const dir = await mkdtemp(path.join(os.tmpdir(), 'headroom-archs-'));
after(() => rm(dir, { recursive: true, force: true }));

const log: string[] = [];
const llama = await getLlama({
    gpu: false,
    build: 'never',
    logLevel: LlamaLogLevel.info,
    logger: (_level, message) => { log.push(...message.split('\n')); },
});
after(() => llama.dispose());

type KvCacheKind = 'window' | 'global' | 'single';

/** The KV caches llama.cpp logged creating, in order: which kind and how many layers each holds. */
function kvCaches(lines: readonly string[]): { kind: KvCacheKind; layers: number }[] {
    const caches: { kind: KvCacheKind; layers: number }[] = [];
    let kind: KvCacheKind = 'single';
    for (const line of lines) {
        if (/creating non-SWA KV cache/.test(line)) kind = 'global';
        else if (/creating\s+SWA KV cache/.test(line)) kind = 'window';
        const size = /llama_kv_cache: size = .*\(\s*\d+ cells,\s*(\d+) layers/.exec(line);
        if (size != null) caches.push({ kind, layers: Number(size[1]) });
    }
    return caches;
}

/** Loads a model, gives a sequence of a fresh context to `use`, and frees both. */
async function withSequence<T>(modelPath: string, use: (sequence: LlamaContextSequence, model: LlamaModel) => Promise<T>): Promise<T> {
    const model = await llama.loadModel({ modelPath });
    try {
        // One thread: on a busy 2-core machine two wait on each other, decoding ~30× slower.
        const context = await model.createContext({ contextSize: CONTEXT, batchSize: BATCH, threads: 1 });
        try {
            return await use(context.getSequence(), model);
        } finally {
            await context.dispose();
        }
    } finally {
        await model.dispose();
    }
}

function promptFor(model: LlamaModel, length: number): Token[] {
    const tokens = model.tokenize(TEXT.repeat(12));
    assert.ok(tokens.length >= length, `the text is ${tokens.length} tokens, fewer than ${length}`);
    return tokens.slice(0, length);
}

/**
 * Greedy generation after the prompt, from an empty sequence, with the raw logits before the
 * first and the last generated token when asked (a full-vocabulary map costs ~0.1 s at 262K tokens).
 */
async function greedy(sequence: LlamaContextSequence, prompt: Token[], count: number, withLogits: boolean) {
    await sequence.clearHistory();
    const tokens: Token[] = [];
    const logits: Map<Token, number>[] = [];
    let input: Token[] = prompt;
    while (tokens.length < count) {
        const logitsHere = withLogits && (tokens.length === 0 || tokens.length === count - 1);
        const lastToken = input.at(-1);
        assert.ok(lastToken != null, 'a prompt of at least one token');
        const items: ControlledEvaluateInputItem[] = [...input.slice(0, -1), [lastToken, { generateNext: { token: true, logits: logitsHere } }]];
        const out = (await sequence.controlledEvaluate(items)).at(-1)?.next;
        assert.ok(out?.token != null, 'a token comes back');
        tokens.push(out.token);
        if (logitsHere) {
            assert.ok(out.logits != null, 'its logits come back');
            logits.push(out.logits);
        }
        input = [out.token];
    }
    return { tokens, logits };
}

/** How many tokens' logits differ between two full-vocabulary maps (assert's own diff of 32K entries would take minutes). */
function differingLogits(a: Map<Token, number>, b: Map<Token, number>): number {
    assert.equal(a.size, b.size);
    let differing = 0;
    for (const [token, logit] of a) if (b.get(token) !== logit) differing++;
    return differing;
}

/** A metadata value by its dotted key under the architecture's own prefix. */
function archValue(metadata: object, arch: string, key: string): unknown {
    return [arch, ...key.split('.')].reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], metadata);
}

describe('random-weight GGUFs of every architecture run on stock llama.cpp', () => {
    for (const [index, { label, options, smallVocab, metadata = {}, tensors, absent = [] }] of CASES.entries()) {
        test(label, async () => {
            const arch = options.architecture;
            const outPath = path.join(dir, `case-${index}-${arch}.gguf`);
            const vocabPath = smallVocab ? await bundledVocab('llama-spm') : undefined;
            await writeRandomGguf({ ...options, vocabPath, outPath, seed: 5 });

            const info = await readGgufFileInfo(outPath);
            assert.equal(info.metadata.general.architecture, arch);
            const headDim = options.headDim ?? options.nEmbd / options.nHead;
            const expected: Record<string, unknown> = {
                block_count: options.nLayer,
                embedding_length: options.nEmbd,
                feed_forward_length: options.nFf,
                context_length: options.contextLength,
                'attention.head_count': options.nHead,
                'attention.head_count_kv': options.nHeadKv,
                // written only where it differs from llama.cpp's default, n_embd / n_head
                'attention.key_length': headDim * options.nHead === options.nEmbd ? undefined : headDim,
                'attention.value_length': headDim * options.nHead === options.nEmbd ? undefined : headDim,
                'rope.dimension_count': headDim,
                ...metadata,
            };
            for (const [key, value] of Object.entries(expected)) assert.equal(archValue(info.metadata, arch, key), value, key);
            const dims = new Map((info.tensorInfo ?? []).map((t) => [t.name, t.dimensions.map(Number)]));
            for (const [name, shape] of Object.entries(tensors)) assert.deepEqual(dims.get(name), shape, name);
            for (const name of absent) assert.ok(!dims.has(name), `${name} is absent`);

            log.length = 0;
            const { first, second } = await withSequence(outPath, async (sequence, model) => {
                const prompt = promptFor(model, PROMPT_TOKENS);
                return { first: await greedy(sequence, prompt, GENERATE, true), second: await greedy(sequence, prompt, GENERATE, false) };
            });

            // llama.cpp made the window and global layers the writer says it would
            const nWindow = slidingWindowLayers(options).filter(Boolean).length;
            assert.ok(options.slidingWindow == null || options.slidingWindow < PROMPT_TOKENS, 'the prompt is longer than the window');
            assert.deepEqual(kvCaches(log), nWindow === 0
                ? [{ kind: 'single', layers: options.nLayer }]
                : [{ kind: 'global', layers: options.nLayer - nWindow }, { kind: 'window', layers: nWindow }]);

            const nVocab = dims.get('token_embd.weight')?.[1];
            for (const [row, token] of [[first.logits[0], first.tokens[0]], [first.logits[1], first.tokens.at(-1)]] as const) {
                assert.ok(row != null, 'logits were returned');
                assert.equal(row.size, nVocab, 'a logit for every token');
                const values = [...row.values()];
                assert.ok(values.every(Number.isFinite), 'the logits are finite');
                assert.ok((values[0] ?? 0) > (values.at(-1) ?? 0), 'the logits vary');
                // the map is sorted by logit: greedy took its first entry
                assert.equal(row.keys().next().value, token);
            }
            assert.deepEqual(second.tokens, first.tokens, 'the same greedy tokens twice');
        });
    }
});

// Two models with the same seed and tensors that differ in one option: the logits after a
// prompt of `within` tokens are the same bit for bit, and after PROMPT_TOKENS they differ.
// Llama 2's 32K vocab keeps these fast; the vocab plays no part in attention.
const EFFECTS: { label: string; within: number; options: Omit<RandomGgufOptions, 'outPath' | 'vocabPath'>; change: Partial<RandomGgufOptions> }[] = [
    {
        // llama.cpp (llm_graph_input_attn_temp): q × (1 + beta · log(floor(pos / original context) + 1))
        label: 'mistral3: the attention temperature scales queries from the original context length (64) on',
        within: 48,
        options: {
            architecture: 'mistral3', nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 128, contextLength: 4096,
            ropeScaling: { type: 'yarn', originalContextLength: 64 },
        },
        change: { attentionTemperatureScale: 0.1 },
    },
    {
        label: 'gemma2: a 32-token window (default 4096) hides keys 32 or more positions back',
        within: 24,
        options: { architecture: 'gemma2', nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 128, contextLength: 4096 },
        change: { slidingWindow: 32 },
    },
    {
        // the same rope base on window and global layers, so that only the window differs
        label: 'gemma3: a 32-token window (default none) hides keys 32 or more positions back',
        within: 24,
        options: { architecture: 'gemma3', nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 128, contextLength: 4096, ropeFreqBase: 10000 },
        change: { slidingWindow: 32, slidingWindowPattern: 2 },
    },
];

describe('options that change attention change it from where they should', () => {
    for (const [index, { label, within, options, change }] of EFFECTS.entries()) {
        test(label, async () => {
            const vocabPath = await bundledVocab('llama-spm');
            const plain = path.join(dir, `effect-${index}-plain.gguf`);
            const changed = path.join(dir, `effect-${index}-changed.gguf`);
            await writeRandomGguf({ ...options, vocabPath, outPath: plain, seed: 9 });
            await writeRandomGguf({ ...options, ...change, vocabPath, outPath: changed, seed: 9 });
            const logitsAfter = (modelPath: string) => withSequence(modelPath, async (sequence, model) => {
                const last = async (length: number) => {
                    const logits = (await greedy(sequence, promptFor(model, length), 1, true)).logits[0];
                    assert.ok(logits != null, 'logits were returned');
                    return logits;
                };
                return { within: await last(within), past: await last(PROMPT_TOKENS) };
            });
            const unchanged = await logitsAfter(plain);
            const withChange = await logitsAfter(changed);
            assert.equal(differingLogits(withChange.within, unchanged.within), 0, `the same logits after ${within} tokens`);
            assert.ok(differingLogits(withChange.past, unchanged.past) > 0, `other logits after ${PROMPT_TOKENS} tokens`);
        });
    }
});
