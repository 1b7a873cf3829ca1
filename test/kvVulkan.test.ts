// The GPU code path without a GPU: our Vulkan build on Mesa's llvmpipe, a conformant Vulkan
// device that runs on the CPU. llama.cpp skips CPU-type Vulkan devices unless
// GGML_VK_VISIBLE_DEVICES names them, so these tests name device 0. Streaming heads live in
// device buffers, offloaded full heads in host buffers and are attended on the CPU backend,
// and the scheduler copies between the two; this checks each of those.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { spawnNodeHost } from '../backend/host/nodeHost.ts';
import { EngineSupervisor } from '../backend/host/supervisor.ts';
import type { HeadPlan } from '../common/kv/policy.ts';
import { BUILD_ENV } from '../engine/kv/native.ts';
import { PASSKEY_PROMPT as PROMPT, runProbe, type ProbeRequest, type ProbeResult } from './support/kvProbe.ts';
import { ORGANISM } from './support/models.ts';
import { requiresVulkan } from './support/native.ts';
import { cachedRandomGguf } from './support/randomGguf.ts';

process.env.GGML_VK_VISIBLE_DEVICES = '0';

// organism.gguf: 4 layers × 4 KV heads, head dim 16; every kind of layer, heads not contiguous
function mixedPlan(fullPlacement: 'gpu' | 'cpu'): HeadPlan {
    return {
        policy: [
            ['streaming', 'streaming', 'streaming', 'streaming'],
            ['full', 'streaming', 'streaming', 'full'],
            ['full', 'full', 'full', 'full'],
            ['streaming', 'full', 'streaming', 'streaming'],
        ],
        sinks: 4, window: 32, fullPlacement,
    };
}

const BASE = { model: ORGANISM, contextSize: 512, batchSize: 64, prompt: PROMPT, generate: 24 } as const satisfies Partial<ProbeRequest>;

describe('head-level KV cache on Vulkan (Mesa llvmpipe)', await requiresVulkan(), () => {
    let cpu: ProbeResult;
    before(async () => {
        cpu = await runProbe({ ...BASE, build: 'headwise', flashAttention: true, plan: mixedPlan('cpu') });
    });

    test('greedy tokens identical to the CPU build, full heads with the compute', async () => {
        const gpu = await runProbe({ ...BASE, build: 'headwise', gpu: 'vulkan', flashAttention: true, plan: mixedPlan('gpu') });
        assert.equal(gpu.gpu, 'vulkan');
        assert.ok(gpu.buffers.length > 0 && gpu.buffers.every((b) => b.device === 'gpu' && /^Vulkan/.test(b.bufferType)),
            `every KV buffer on the device: ${JSON.stringify(gpu.buffers)}`);
        assert.deepEqual(gpu.generated, cpu.generated);
    });

    test('full heads in CPU RAM: host buffers for them, device buffers for the streaming heads, same tokens', async () => {
        const offloaded = await runProbe({ ...BASE, build: 'headwise', gpu: 'vulkan', flashAttention: true, plan: mixedPlan('cpu') });
        const full = offloaded.buffers.filter((b) => b.kind === 'full');
        const streaming = offloaded.buffers.filter((b) => b.kind === 'streaming');
        assert.ok(full.length > 0 && full.every((b) => b.device === 'cpu'), `full heads on the host: ${JSON.stringify(full)}`);
        assert.ok(streaming.length > 0 && streaming.every((b) => b.device === 'gpu' && /^Vulkan/.test(b.bufferType)),
            `streaming heads on the device: ${JSON.stringify(streaming)}`);
        assert.deepEqual(offloaded.generated, cpu.generated);
    });

    test('flash attention stays on when the full heads are attended on the CPU', async () => {
        const auto = await runProbe({ ...BASE, build: 'headwise', gpu: 'vulkan', flashAttentionAuto: true, plan: mixedPlan('cpu') });
        assert.equal(auto.flashAttention, true, 'llama.cpp\'s automatic check keeps flash attention on');
        assert.deepEqual(auto.generated, cpu.generated);
    });

    test('per decoded token the scheduler copies the query and the attention output, never the KV', async () => {
        const offloaded = await runProbe({ ...BASE, build: 'headwise', gpu: 'vulkan', flashAttention: true, plan: mixedPlan('cpu'), timings: true });
        assert.ok(offloaded.copyBytes != null, 'llama.cpp reported its timings');
        const perToken = offloaded.copyBytes.perDecodedToken;
        // what the host-attended heads hold by the last token: cells in use × bytes per cell
        const fullHeads = mixedPlan('cpu').policy.flat().filter((p) => p === 'full').length;
        const tokens = offloaded.promptTokens.length + offloaded.generated.length;
        const fullKvBytes = fullHeads * tokens * (16 + 16) * 2;
        // the query of the host-attended heads and their output, both F32, plus the token's small inputs
        const qAndOutput = 2 * fullHeads * 2 /* query heads per KV head */ * 16 * 4;
        assert.ok(perToken > 0, 'the host-attended heads do cross between backends');
        assert.ok(perToken < fullKvBytes / 4, `${perToken} B per token is far below the ${fullKvBytes} B of full-head KV`);
        assert.ok(perToken < 16 * qAndOutput, `${perToken} B per token is of the order of the query and output (${qAndOutput} B)`);
    });
});

// Llama-3-8B's attention (32 query heads over 8 KV heads of 128) on a narrow random model (f32
// weights, so Vulkan and the CPU agree to 1e-3): the head size organism's tests (16) do not reach.
function llama3AttentionModel(): Promise<string> {
    return cachedRandomGguf('vulkan-llama3-attention.gguf', {
        architecture: 'llama', vocab: 'llama-spm', nLayer: 2, nEmbd: 256, nHead: 32, nHeadKv: 8, headDim: 128,
        nFf: 256, contextLength: 4096, tensorType: 'f32', seed: 7, chatTemplate: null, name: 'random llama-3 attention',
    });
}

describe('Llama-3 attention with full heads in CPU RAM on Vulkan', await requiresVulkan(), () => {
    const supervisor = new EngineSupervisor(() => spawnNodeHost({ [BUILD_ENV]: 'headwise' }), () => {});
    after(() => supervisor.dispose());

    // The sequence that crashed Debian 12's Mesa 22.3 lavapipe (native/README.md; CI runs Mesa 25):
    // a prompt past the window read without outputs, then one-token decodes, whose flash attention
    // needs a bigger split-k buffer than the prompt's. llvmpipe compiles the head-dim-128 shaders on
    // first use: about 6 minutes on 2 cores with an empty Mesa cache.
    test('a prompt past the window, then decoding: the CPU build\'s tokens and logits', { timeout: 20 * 60_000 }, async () => {
        const S = 'streaming', F = 'full';
        const plan: HeadPlan = { policy: [[S, S, S, S, S, S, S, S], [F, F, F, S, S, S, S, S]], sinks: 4, window: 128, fullPlacement: 'cpu' };
        const prompt = Array.from({ length: 401 }, (_, i) => 100 + ((i * 7919) % 20000));
        const base = { build: 'headwise', model: await llama3AttentionModel(), contextSize: 640, batchSize: 128, prompt, generate: 4, flashAttention: true, plan, logits: true, lastTokenAlone: true } as const;
        const cpu = await runProbe(base);
        const vulkan = await runProbe({ ...base, gpu: 'vulkan' });
        assert.ok(vulkan.buffers.filter((b) => b.kind === 'full').every((b) => b.device === 'cpu'), 'full heads in host buffers');
        assert.deepEqual(vulkan.generated, cpu.generated);
        const gap = cpu.logits.reduce((max, row, i) => row.reduce((m, value, j) => Math.max(m, Math.abs(value - (vulkan.logits[i]?.[j] ?? Number.NaN))), max), 0);
        assert.ok(gap < 1e-2, `logits within 1e-2 of the CPU build's (max diff ${gap})`);
    });

    test('through the engine host: reads a document past the window and answers, flash attention on, no crash', async () => {
        const info = await supervisor.load({
            path: await llama3AttentionModel(), contextSize: 640, flashAttention: 'on',
            kv: { mode: 'budget', budget: 0.5, sinks: 4, window: 128, offload: 'cpu' },
        });
        assert.equal(info.gpu, 'vulkan');
        assert.deepEqual(info.kv, { available: true, active: true, reason: null });
        const { buffers } = (await supervisor.kvStats()).allocated;
        assert.ok(buffers.some((b) => b.kind === 'full') && buffers.filter((b) => b.kind === 'full').every((b) => b.device === 'cpu'),
            `full heads in host buffers: ${JSON.stringify(buffers)}`);
        assert.ok(buffers.filter((b) => b.kind === 'streaming').every((b) => b.device === 'gpu'), 'streaming heads on the device');

        const text = Array.from({ length: 22 }, (_, i) => `Line ${i} of the report keeps the numbers ${i * 7} and ${i * 13}.`).join(' ');
        const reply = await supervisor.generate({ generationId: 'vk-llama3', documents: [{ name: 'report.txt', text }], history: [], prompt: 'What does line 5 say?', maxTokens: 8 });
        assert.ok(reply.prefill.tokens > 3 * 128, `the prompt (${reply.prefill.tokens} tokens) is longer than the streaming heads' window`);
        assert.ok(reply.stopReason === 'maxTokens' || reply.stopReason === 'eos');
        assert.equal(supervisor.state.restarts, 0, 'the engine host did not crash');
    });
});

// The follow-up cases of kvFollowUps.test.ts on the device: a Gemma-shaped model's window layers and
// a prompt whose last 128-token chunk holds one token, each going back to the prompt's end after a
// reply and reading reply + question; the CPU build's logits, nothing read again.
describe('follow-ups on Vulkan', await requiresVulkan(), () => {
    const tokens = (length: number, seed: number) => Array.from({ length }, (_, i) => 300 + ((i * 7919 + seed * 104729) % 29000));
    const cases = [
        {
            name: 'a Gemma-shaped model\'s window layers (window 64) after a 300-token reply',
            model: () => cachedRandomGguf('followup-gemma3-v1.gguf', {
                architecture: 'gemma3', nLayer: 6, nEmbd: 64, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 96, contextLength: 4096,
                slidingWindow: 64, slidingWindowPattern: 3, vocab: 'llama-spm', tensorType: 'f32', seed: 21, chatTemplate: null,
            }),
            // 6 layers, 2 KV heads: every head full; layers 0, 1, 3, 4 are the model's window layers
            policy: [0, 1, 2, 3, 4, 5].map((layer) => (layer % 3 < 2 ? ['window', 'window'] : ['full', 'full'])),
            prompt: tokens(200, 1),
        },
        {
            name: 'streaming heads after a prompt whose last chunk holds one token (257 tokens)',
            model: () => cachedRandomGguf('followup-llama-v1.gguf', {
                architecture: 'llama', nLayer: 3, nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 96, contextLength: 4096, vocab: 'llama-spm', tensorType: 'f32', seed: 22, chatTemplate: null,
            }),
            policy: [['streaming', 'streaming'], ['full', 'streaming'], ['streaming', 'streaming']],
            prompt: tokens(257, 3),
        },
    ] as const;
    for (const { name, model, policy, prompt } of cases) {
        test(name, async () => {
            const plan = { policy: policy.map((row) => [...row]), sinks: 4, window: 64, fullPlacement: 'gpu' } as HeadPlan;
            const base = { build: 'headwise', model: await model(), contextSize: 2048, batchSize: 128, prompt, flashAttention: true, plan } as const;
            // the CPU build's greedy reply, decoded as given on both backends (greedy ties on random weights break
            // differently on each after a few hundred tokens), then the follow-up
            const first = await runProbe({ ...base, generate: 300 });
            const read = [...first.generated, ...tokens(24, 99)];
            const cpu = await runProbe({ ...base, generate: 300, reply: first.generated, followUp: read });
            const vulkan = await runProbe({ ...base, generate: 300, reply: first.generated, followUp: read, gpu: 'vulkan' });
            assert.ok(vulkan.buffers.length > 0 && vulkan.buffers.every((b) => b.device === 'gpu'), 'the caches on the device');
            assert.equal(vulkan.followUp?.evaluatedTokens, read.length, 'only the reply and the question were read again');
            const gap = Math.max(...(cpu.followUp?.logits ?? []).map((value, i) => Math.abs(value - (vulkan.followUp?.logits[i] ?? Number.NaN))));
            assert.ok(gap < 1e-2, `the follow-up's logits within 1e-2 of the CPU build's (max diff ${gap})`);
        });
    }
});
