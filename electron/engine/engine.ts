// Owns node-llama-cpp inside the engine host process: one model, one context, one chat.
// The conversation itself is owned by the caller and sent with every turn, so a
// restarted engine picks it up again without anything being lost.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Llama, LlamaChatSession, LlamaCompletion, LlamaContext, LlamaContextSequence, LlamaModel, ChatHistoryItem } from 'node-llama-cpp';
import type { ChatMessage, MemoryStats, ModelInfo, Params, Result } from '../ipc/contract.ts';
import { HeadroomError } from '../ipc/rpc.ts';
import { kvUsageFromFormula, kvUsageFromStats, type EngineKvStats, type KvUsage } from '../memory/kvUsage.ts';
import { BufferLog, type MeasuredBuffers } from '../memory/llamaLog.ts';
import { LIVE_STATS_INTERVAL_MS, SpeedMeter } from '../memory/liveStats.ts';
import { attentionOf, kvShapeOf, type AttentionMetadata } from '../memory/modelShape.ts';
import { DEFAULT_UBATCH, fitToMachine, flashAttentionOption, planMemory } from '../memory/planner.ts';
import type { FitResult, MemoryPlan, PlanInput, Prediction } from '../memory/plan.ts';

export interface EngineEvents {
    loadProgress(path: string, progress: number): void;
    chunk(generationId: string, text: string): void;
    memoryStats(stats: MemoryStats): void;
}

const DEFAULT_MAX_CONTEXT = 8192;
const DEFAULT_COMPLETION_TOKENS = 256;
// Below this size a model's per-token work is smaller than the cost of syncing CPU
// threads: one thread is measured 60x faster than two on stories260K.
const SINGLE_THREAD_MODEL_BYTES = 256 * 1024 * 1024;

type NodeLlamaCpp = typeof import('node-llama-cpp');

interface Loaded {
    model: LlamaModel;
    context: LlamaContext;
    sequence: LlamaContextSequence;
    info: ModelInfo;
    chat: LlamaChatSession | null;
    completion: LlamaCompletion | null;
    // What the chat session currently holds; when a turn arrives with a different
    // history (edited, regenerated, or a restarted engine) the session is reset to it.
    history: ChatMessage[];
    /** The stock cache as policy.ts sizes it, until the native cache reports kvStats. */
    formulaKv: KvUsage;
    /** What llama.cpp logged allocating for the model and the context. */
    measured: MeasuredBuffers;
    predicted: Prediction | null;
}

function sameHistory(a: readonly ChatMessage[], b: readonly ChatMessage[]): boolean {
    return a.length === b.length && a.every((m, i) => m.role === b[i].role && m.text === b[i].text);
}

function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
    return messages.map((m) => m.role === 'user'
        ? { type: 'user', text: m.text }
        : { type: 'model', response: [m.text] });
}

function mapStopReason(reason: string): Result<'chat.send'>['stopReason'] {
    if (reason === 'abort') return 'aborted';
    if (reason === 'maxTokens') return 'maxTokens';
    return 'eos';
}

export class Engine {
    #events: EngineEvents;
    #lib: NodeLlamaCpp | null = null;
    #llama: Llama | null = null;
    #loaded: Loaded | null = null;
    #generation: { id: string; abort: AbortController } | null = null;
    #loading = false;
    #buffers = new BufferLog();
    #speed = new SpeedMeter();

    constructor(events: EngineEvents) {
        this.#events = events;
    }

    async #getLlama(): Promise<{ lib: NodeLlamaCpp; llama: Llama }> {
        // Imported lazily so the host answers its parent before the native addon loads.
        this.#lib ??= await import('node-llama-cpp');
        this.#llama ??= await this.#lib.getLlama({
            gpu: process.env.HEADROOM_GPU === 'false' ? false : 'auto',
            build: 'never',
            // Info level so that llama.cpp's buffer sizes reach us; only errors go to stderr,
            // where the supervisor looks for out-of-memory messages.
            logLevel: this.#lib.LlamaLogLevel.info,
            logger: (level, message) => {
                if (this.#buffers.observe(message)) return;
                if (level === this.#lib!.LlamaLogLevel.error || level === this.#lib!.LlamaLogLevel.fatal) {
                    process.stderr.write(message.endsWith('\n') ? message : `${message}\n`);
                }
            },
        });
        return { lib: this.#lib, llama: this.#llama };
    }

    async load({ path: modelPath, contextSize, threads, gpuLayers, flashAttention, kvCacheType }: Params<'model.load'>): Promise<ModelInfo> {
        if (this.#generation != null || this.#loading) throw new HeadroomError('BUSY', 'The engine is busy; stop the current reply first.');
        this.#loading = true;
        try {
            await this.unload();
            const file = await stat(modelPath).catch(() => null);
            if (file == null || !file.isFile()) throw new HeadroomError('MODEL_LOAD_FAILED', `No model file at ${modelPath}.`);
            const { lib, llama } = await this.#getLlama();
            let model: LlamaModel;
            let reported = -1;
            this.#buffers.reset();
            try {
                model = await llama.loadModel({
                    modelPath,
                    ...(gpuLayers != null ? { gpuLayers } : {}),
                    onLoadProgress: (progress) => {
                        // llama.cpp reports per tensor; a percent step is plenty for a progress bar.
                        if (progress < 1 && progress - reported < 0.01) return;
                        reported = progress;
                        this.#events.loadProgress(modelPath, progress);
                    },
                });
            } catch (error) {
                throw new HeadroomError('MODEL_LOAD_FAILED', `Could not load ${path.basename(modelPath)}: ${(error as Error).message}. Is it a valid GGUF model file?`);
            }
            let context: LlamaContext;
            try {
                const cacheType = kvCacheType === 'q8_0' ? 'Q8_0' : 'F16';
                context = await model.createContext({
                    ...(flashAttention != null ? { flashAttention: flashAttentionOption(flashAttention) } : {}),
                    ...(kvCacheType != null ? { experimentalKvCacheKeyType: cacheType, experimentalKvCacheValueType: cacheType } : {}),
                    threads: threads ?? (file.size < SINGLE_THREAD_MODEL_BYTES ? 1 : llama.cpuMathCores),
                    contextSize: contextSize ?? { max: Math.min(model.trainContextSize || DEFAULT_MAX_CONTEXT, DEFAULT_MAX_CONTEXT) },
                });
            } catch (error) {
                await model.dispose();
                throw new HeadroomError('MODEL_LOAD_FAILED', `The model loaded, but a context of ${contextSize ?? 'the default'} tokens did not fit in memory: ${(error as Error).message}`);
            }
            const hasTemplate = typeof model.fileInfo.metadata.tokenizer?.chat_template === 'string';
            const sequence = context.getSequence();
            const chat = hasTemplate ? new lib.LlamaChatSession({ contextSequence: sequence }) : null;
            const completion = hasTemplate ? null : new lib.LlamaCompletion({ contextSequence: sequence });
            const metadata = model.fileInfo.metadata;
            const architecture = String(metadata.general?.architecture ?? 'unknown');
            const info: ModelInfo = {
                path: modelPath,
                name: metadata.general?.name ?? path.basename(modelPath, '.gguf'),
                sizeBytes: file.size,
                architecture,
                layers: Number((metadata as Record<string, { block_count?: number }>)[architecture]?.block_count ?? 0),
                contextSize: context.contextSize,
                trainContextSize: model.trainContextSize,
                chatMode: hasTemplate ? 'chat' : 'completion',
                chatWrapper: chat?.chatWrapper.wrapperName ?? 'none',
                gpu: llama.gpu === false ? 'cpu' : llama.gpu,
                threads: context.currentThreads,
            };
            // llama.cpp's log reaches JavaScript asynchronously: let the buffer lines drain.
            await new Promise((resolve) => setTimeout(resolve, 50));
            const attention = attentionOf(metadata[architecture as keyof typeof metadata] as AttentionMetadata ?? {});
            const shape = kvShapeOf(attention, { contextCells: context.contextSize, ubatch: Math.min(DEFAULT_UBATCH, context.contextSize), cacheType: kvCacheType ?? 'f16' });
            const predicted = await planMemory(llama, {
                path: modelPath, contextSize: context.contextSize, gpuLayers: model.gpuLayers,
                kvCacheType: kvCacheType ?? 'f16', flashAttention: flashAttention ?? 'auto',
            }).then((plan) => plan.predicted, () => null);
            this.#loaded = {
                model, context, sequence, info, chat, completion, history: [],
                formulaKv: kvUsageFromFormula(shape, null, { gpuLayers: Math.min(model.gpuLayers, attention.layers) }),
                measured: this.#buffers.measured,
                predicted,
            };
            this.#speed.start();
            void this.#pushStats(false);
            return info;
        } finally {
            this.#loading = false;
        }
    }

    async unload(): Promise<void> {
        this.#generation?.abort.abort();
        const loaded = this.#loaded;
        this.#loaded = null;
        if (loaded == null) return;
        loaded.chat?.dispose();
        await loaded.context.dispose();
        await loaded.model.dispose();
    }

    async send({ generationId, history, prompt, maxTokens }: Params<'chat.send'>): Promise<Result<'chat.send'>> {
        const loaded = this.#loaded;
        if (loaded == null) throw new HeadroomError('NO_MODEL', 'No model is loaded. Pick a model first.');
        if (this.#generation != null || this.#loading) throw new HeadroomError('BUSY', 'A reply is already being generated.');
        const abort = new AbortController();
        this.#generation = { id: generationId, abort };
        const onTextChunk = (text: string) => this.#events.chunk(generationId, text);
        const onToken = (tokens: readonly unknown[]) => this.#speed.add(tokens.length);
        this.#speed.start();
        // Pushed, not polled: the window sees memory move while the reply streams.
        const ticker = LIVE_STATS_INTERVAL_MS > 0 ? setInterval(() => void this.#pushStats(true), LIVE_STATS_INTERVAL_MS) : undefined;
        try {
            if (loaded.chat != null) {
                if (!sameHistory(loaded.history, history)) loaded.chat.setChatHistory(toChatHistory(history));
                const reply = await loaded.chat.promptWithMeta(prompt, {
                    onTextChunk, onToken, signal: abort.signal, stopOnAbortSignal: true, maxTokens, temperature: 0,
                });
                loaded.history = [...history, { role: 'user', text: prompt }, { role: 'assistant', text: reply.responseText }];
                return { text: reply.responseText, stopReason: mapStopReason(reply.stopReason) };
            }
            // No chat template: continue the running text as plain completion.
            const transcript = [...history.map((m) => m.text), prompt].join('');
            const reply = await loaded.completion!.generateCompletionWithMeta(transcript, {
                onTextChunk, onToken, signal: abort.signal, stopOnAbortSignal: true,
                maxTokens: maxTokens ?? DEFAULT_COMPLETION_TOKENS, temperature: 0,
            });
            return { text: reply.response, stopReason: mapStopReason(reply.metadata.stopReason) };
        } catch (error) {
            if (error instanceof HeadroomError) throw error;
            throw new HeadroomError('GENERATION_FAILED', `Generation failed: ${(error as Error).message}`);
        } finally {
            clearInterval(ticker);
            this.#generation = null;
            void this.#pushStats(false);
        }
    }

    async plan(request: PlanInput): Promise<MemoryPlan> {
        const { llama } = await this.#getLlama();
        await this.#checkModelFile(request.path);
        return planMemory(llama, request).catch((error) => this.#unreadable(request.path, error));
    }

    async fit(request: PlanInput, goal: 'context' | 'compression'): Promise<FitResult> {
        const { llama } = await this.#getLlama();
        await this.#checkModelFile(request.path);
        return fitToMachine(llama, request, goal).catch((error) => this.#unreadable(request.path, error));
    }

    #unreadable(modelPath: string, error: unknown): never {
        if (error instanceof HeadroomError) throw error;
        throw new HeadroomError('MODEL_LOAD_FAILED', `Could not read ${path.basename(modelPath)}: ${(error as Error).message} Is it a valid GGUF model file?`);
    }

    async #checkModelFile(modelPath: string): Promise<void> {
        const file = await stat(modelPath).catch(() => null);
        if (file == null || !file.isFile()) throw new HeadroomError('NOT_FOUND', `No model file at ${modelPath}.`);
    }

    /** The native per-head cache's own numbers; null until the engine has them (branch native). */
    #kvStats(): EngineKvStats | null {
        return null;
    }

    async memoryStats(): Promise<MemoryStats> {
        const loaded = this.#loaded;
        const llama = this.#llama;
        let gpu: MemoryStats['gpu'] = { available: false, reason: 'No GPU: the model runs on the CPU.' };
        if (llama != null && llama.gpu !== false) {
            const vram = await llama.getVramState();
            gpu = { available: true, kind: llama.gpu, totalBytes: vram.total, usedBytes: vram.used };
        } else if (llama == null) {
            gpu = { available: false, reason: 'Load a model to see GPU memory.' };
        }
        const stats = this.#kvStats();
        return {
            at: Date.now(),
            generating: this.#generation != null,
            gpu,
            processRamBytes: process.memoryUsage.rss(),
            kv: loaded == null ? null : stats != null ? kvUsageFromStats(stats) : loaded.formulaKv,
            context: loaded == null ? null : {
                usedTokens: loaded.sequence.nextTokenIndex,
                capacityTokens: loaded.context.contextSize,
            },
            tokensPerSecond: this.#speed.perSecond,
            generatedTokens: this.#speed.tokens,
            loaded: loaded == null ? null : { actual: loaded.measured, predicted: loaded.predicted },
        };
    }

    async #pushStats(generating: boolean): Promise<void> {
        try {
            const stats = await this.memoryStats();
            this.#events.memoryStats({ ...stats, generating: generating && stats.generating });
        } catch {
            // A snapshot failing (e.g. mid-unload) is not worth interrupting anything for.
        }
    }

    stop(generationId?: string): boolean {
        const generation = this.#generation;
        if (generation == null || (generationId != null && generation.id !== generationId)) return false;
        generation.abort.abort();
        return true;
    }
}
