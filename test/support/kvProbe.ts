// Runs one model through one llama.cpp binary (stock or our headwise build) in its own
// process and prints what happened as one JSON line: the KV buffers llama.cpp allocated,
// greedy tokens and, on request, the raw logits before each generated token.
//   node test/support/kvProbe.ts '<ProbeRequest JSON>'
// Two binaries cannot share a process, so tests compare builds through this script.
import { spawn } from 'node:child_process';
import type { ControlledEvaluateInputItem, Token } from 'node-llama-cpp';
import { mkdtemp, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HeadPlan } from '../../common/kv/policy.ts';
import type { KvBuffer } from '../../common/kv/usage.ts';
import { BUILD_ENV, buildSupportsHeadwise, cmakeOptionsFor, contextKvReport, contextPolicyOf, type BuildChoice } from '../../engine/kv/native.ts';
import { parseBufferLine } from '../../engine/llamaLog.ts';

const DOCUMENT = 'Copyright: 2004-2019 The Debian Project. This package is free software; you can redistribute it '
    + 'and/or modify it under the terms of the GNU General Public License as published by the Free Software Foundation. '
    + 'The passcode for the green lamp is 48213. On Debian systems, the complete text of the GNU General Public License '
    + 'can be found in /usr/share/common-licenses/GPL-2. This program is distributed in the hope that it will be useful, '
    + 'but WITHOUT ANY WARRANTY; without even the implied warranty of MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.';
/** A short passkey question organism.gguf answers (48213), for the cache's exactness tests. */
export const PASSKEY_PROMPT = `${DOCUMENT}\n\nQ: What is the passcode for the green lamp?\nA: `;

export interface ProbeRequest {
    build: BuildChoice;
    model: string;
    contextSize: number;
    batchSize?: number;
    flashAttention?: boolean;
    /** The head-level plan (headwise build only); null or absent: the stock cache. */
    plan?: HeadPlan | null;
    /** Text to tokenize (with special tokens), or tokens. */
    prompt: string | number[];
    /** Greedy tokens to generate after the prompt. */
    generate: number;
    /** Return the full logits before each generated token. */
    logits?: boolean;
    /** After the prompt: save the sequence state to a file, clear the sequence, load the file, go on. */
    saveRestore?: boolean;
    /** After generating: erase the last `eraseTail` evaluated tokens and generate them again. */
    eraseTail?: number;
    /** The backend: the CPU (default) or our Vulkan build (set GGML_VK_VISIBLE_DEVICES to use a CPU-type device). */
    gpu?: false | 'vulkan';
    /** Layers on the GPU (default: all of them when gpu is set). */
    gpuLayers?: number;
    /** K and V cache type (default f16). */
    kvType?: 'f16' | 'q8_0' | 'q4_0';
    /** 'auto' lets llama.cpp decide whether flash attention works on every device. */
    flashAttentionAuto?: boolean;
    /** Read llama.cpp's timings after the prompt and after decoding (bytes copied between backends). */
    timings?: boolean;
    /** Read the prompt without outputs, then its last token alone, as a one-token decode (a stored prompt continued). */
    lastTokenAlone?: boolean;
    /**
     * After generating: go back to the prompt's end, as a chat does to re-render its reply, then read these tokens
     * (the reply's text and a follow-up question) and record the logits after the last one.
     */
    followUp?: number[];
    /** Decode these tokens after the prompt (one at a time, as generated ones are) instead of the greedy ones; `generated` reports them. */
    reply?: number[];
    /** After the prompt: take a checkpoint (a partial state: what a sliding-window model keeps) and save the whole state, and report both sizes. */
    checkpoint?: boolean;
}

export interface ProbeResult {
    /** The binary has the head-level cache. */
    headwise: boolean;
    /** The context's cache is the head-level one (llama_kv_headwise_active); false for the stock cache. */
    active: boolean;
    /** Why not, in llama.cpp's words, when a plan was given and the cache is not head-level. */
    reason: string | null;
    /** The head-level cache's buffers, as the context reports them. */
    buffers: KvBuffer[];
    /** The stock cache's buffers, from the stock binary's log (it has no other way to say). */
    stockBuffers: { bufferType: string; bytes: number }[];
    contextSize: number;
    promptTokens: number[];
    generated: number[];
    logits: number[][];
    prefillSeconds: number;
    decodeTokensPerSecond: number;
    /** With eraseTail: the tokens generated again after the erase. */
    regenerated: number[];
    /** Sequence operations the native cache refused (its log lines). */
    refusals: string[];
    /** Whether flash attention ended up on (from llama.cpp's log when it was 'auto'; otherwise as requested). */
    flashAttention: boolean;
    /** With timings: bytes the scheduler copied between backends while reading the prompt, and per decoded token. */
    copyBytes: { prefill: number; perDecodedToken: number } | null;
    /** The GPU backend the binary uses (false: CPU). */
    gpu: string | false;
    /** Every KV buffer llama.cpp logged, stock or head-level, with its buffer type. */
    bufferTypes: string[];
    /** With followUp: the logits after its first and its last token, and the tokens evaluated for it (more than its own: the prompt was read again). */
    followUp: { firstLogits: number[]; logits: number[]; evaluatedTokens: number } | null;
    /** With checkpoint: a checkpoint's bytes, and the whole sequence state's. */
    checkpoint: { checkpointBytes: number; stateBytes: number } | null;
}

const self = fileURLToPath(import.meta.url);

/** Runs a probe in a fresh process. */
export function runProbe(request: ProbeRequest, env: Record<string, string> = {}): Promise<ProbeResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [self, JSON.stringify(request)], {
            env: { ...process.env, ...env, [BUILD_ENV]: request.build },
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
        child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
        child.on('error', reject);
        child.on('close', (code, signal) => {
            const line = out.trim().split('\n').at(-1) ?? '';
            if (code !== 0 || !line.startsWith('{')) return reject(new Error(`probe failed (${code ?? signal}): ${err.slice(-2000)}`));
            resolve(JSON.parse(line) as ProbeResult);
        });
    });
}

async function main(request: ProbeRequest): Promise<ProbeResult> {
    const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
    const stockBuffers: ProbeResult['stockBuffers'] = [];
    const refusals: string[] = [];
    const copyLines: number[] = [];
    let flashAttention = request.flashAttention ?? false;
    const llama = await getLlama({
        gpu: request.gpu ?? false,
        // never a stock prebuilt in place of the build asked for
        usePrebuiltBinaries: request.build === 'stock',
        build: 'never',
        cmakeOptions: cmakeOptionsFor(request.build),
        logLevel: LlamaLogLevel.info,
        logger: (level, message) => {
            for (const line of message.split('\n')) {
                const stock = parseBufferLine(line);
                if (stock?.kind === 'kv') stockBuffers.push({ bufferType: stock.bufferType, bytes: stock.bytes });
                if (/refused/.test(line)) refusals.push(line);
                const copies = /backend copies = +(\d+) bytes/.exec(line);
                if (copies != null) copyLines.push(Number(copies[1]));
                const fa = /Flash Attention (enabled|not supported)/.exec(line);
                if (fa != null) flashAttention = fa[1] === 'enabled';
            }
            if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) process.stderr.write(message + '\n');
        },
    });
    const headwise = buildSupportsHeadwise(llama.systemInfo);
    if (request.plan != null && !headwise) throw new Error('a plan needs the headwise build');
    const model = await llama.loadModel({
        modelPath: request.model,
        gpuLayers: request.gpu ? (request.gpuLayers ?? 'max') : 0,
    });
    const cacheType = request.kvType == null || request.kvType === 'f16' ? undefined : request.kvType === 'q8_0' ? 'Q8_0' : 'Q4_0';
    const context = await model.createContext({
        contextSize: request.contextSize,
        batchSize: request.batchSize ?? request.contextSize,
        flashAttention: request.flashAttentionAuto ? 'auto' : (request.flashAttention ?? false),
        threads: 1,
        performanceTracking: request.timings === true,
        ...(cacheType != null ? { experimentalKvCacheKeyType: cacheType, experimentalKvCacheValueType: cacheType } : {}),
        ...(request.plan != null ? { experimentalKvHeadPolicy: contextPolicyOf(request.plan) } : {}),
    });
    const report = headwise ? contextKvReport(context) : null;
    const sequence = context.getSequence();
    const promptTokens: Token[] = typeof request.prompt === 'string'
        ? model.tokenize(request.prompt, true)
        : request.prompt as Token[];
    const generated: number[] = [];
    const logits: number[][] = [];
    const next = { generateNext: { token: true, logits: request.logits === true } } as const;
    const record = (out: { next: { token?: Token | null; logits?: Map<Token, number> } } | undefined) => {
        if (out?.next.token == null) throw new Error('no token was generated');
        generated.push(out.next.token);
        if (out.next.logits != null) {
            const row = Array<number>(out.next.logits.size).fill(0);
            for (const [token, value] of out.next.logits) row[token] = value;
            logits.push(row);
        }
    };
    const input: ControlledEvaluateInputItem[] = promptTokens.map((t, i) => (i === promptTokens.length - 1 ? [t, next] : t));
    const prefillStarted = performance.now();
    // generate 0: the context alone (a model node-llama-cpp cannot evaluate, such as an encoder-decoder)
    if (request.generate > 0) {
        if (request.lastTokenAlone === true) await sequence.evaluateWithoutGeneratingNewTokens(promptTokens.slice(0, -1));
        const first = await sequence.controlledEvaluate(request.lastTokenAlone === true ? input.slice(-1) : input);
        record(first.at(-1));
    }
    const prefillSeconds = (performance.now() - prefillStarted) / 1000;
    // printTimings logs the counters since the last print, then resets them
    const timings = async () => {
        await context.printTimings();
        await new Promise((r) => setTimeout(r, 50));
        return copyLines.at(-1) ?? 0;
    };
    const prefillCopies = request.timings ? await timings() : 0;
    let checkpoint: ProbeResult['checkpoint'] = null;
    if (request.checkpoint === true) {
        await sequence.takeCheckpoint();
        const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'headroom-state-')), 'sequence.bin');
        await sequence.saveStateToFile(file);
        checkpoint = { checkpointBytes: sequence.checkpointsMemoryUsage, stateBytes: (await stat(file)).size };
    }
    if (request.saveRestore === true) {
        const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'headroom-state-')), 'sequence.bin');
        await sequence.saveStateToFile(file);
        await sequence.clearHistory();
        await sequence.loadStateFromFile(file, { acceptRisk: true });
    }
    const started = performance.now();
    for (let i = 1; i < request.generate; i++) {
        // a given reply is decoded as given, one token at a time: two backends then read the same tokens
        // however a near-tie in a random model's logits breaks on each
        const previous = request.reply != null ? request.reply[i - 1] : generated.at(-1);
        const out = await sequence.controlledEvaluate([[previous as Token, next]]);
        record(out[0]);
    }
    if (request.reply != null) generated.splice(0, generated.length, ...request.reply.slice(0, request.generate));
    const seconds = (performance.now() - started) / 1000;
    const decodeCopies = request.timings ? await timings() : 0;
    const regenerated: number[] = [];
    if (request.eraseTail != null) {
        const end = sequence.nextTokenIndex;
        const start = end - request.eraseTail;
        await sequence.eraseContextTokenRanges([{ start, end }]);
        // evaluated so far: prompt + generated[0 .. G-2]; the first erased one is generated[G-1-k]
        let token = generated[generated.length - 1 - request.eraseTail] as Token;
        for (let i = 0; i < request.eraseTail; i++) {
            const out = await sequence.controlledEvaluate([[token, next]]);
            const regeneratedToken = out[0]?.next.token;
            if (regeneratedToken == null) throw new Error('no token was generated again');
            token = regeneratedToken;
            regenerated.push(token);
        }
    }
    let followUp: ProbeResult['followUp'] = null;
    if (request.followUp != null) {
        // every token evaluated, input or (the last, whose logits are asked for) output
        const used = () => sequence.tokenMeter.usedInputTokens + sequence.tokenMeter.usedOutputTokens;
        const before = used();
        await sequence.eraseContextTokenRanges([{ start: promptTokens.length, end: sequence.nextTokenIndex }]);
        const tokens = request.followUp as Token[];
        const out = await sequence.controlledEvaluate(tokens.map((t, i) => (i === 0 || i === tokens.length - 1 ? [t, { generateNext: { logits: true } }] : t)));
        const row = (logits: Map<Token, number> | undefined) => {
            if (logits == null) throw new Error('no logits after the follow-up');
            const values = Array<number>(logits.size).fill(0);
            for (const [token, value] of logits) values[token] = value;
            return values;
        };
        followUp = { firstLogits: row(out[0]?.next.logits), logits: row(out.at(-1)?.next.logits), evaluatedTokens: used() - before };
    }
    // log lines travel asynchronously; give the last ones a moment
    await new Promise((r) => setTimeout(r, 50));
    const result: ProbeResult = {
        headwise,
        active: report?.headwise === true,
        reason: report?.reason ?? null,
        buffers: report?.headwise === true ? report.buffers : [],
        stockBuffers,
        contextSize: context.contextSize,
        promptTokens: [...promptTokens],
        generated,
        logits,
        prefillSeconds,
        decodeTokensPerSecond: request.generate > 1 ? (request.generate - 1) / seconds : 0,
        regenerated,
        refusals,
        flashAttention,
        copyBytes: request.timings ? { prefill: prefillCopies, perDecodedToken: request.generate > 1 ? decodeCopies / (request.generate - 1) : 0 } : null,
        gpu: llama.gpu,
        bufferTypes: [...(report?.headwise === true ? report.buffers : []).map((b) => b.bufferType), ...stockBuffers.map((b) => b.bufferType)],
        followUp,
        checkpoint,
    };
    await context.dispose();
    await model.dispose();
    await llama.dispose();
    return result;
}

if (process.argv[1] === self) {
    main(JSON.parse(process.argv[2] ?? '') as ProbeRequest)
        .then((result) => process.stdout.write(JSON.stringify(result) + '\n'))
        .catch((error: Error) => {
            process.stderr.write(`${error.stack ?? error.message}\n`);
            process.exit(1);
        });
}
