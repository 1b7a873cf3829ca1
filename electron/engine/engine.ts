// Owns node-llama-cpp inside the engine host process: one model, one context, one chat.
// The conversation itself is owned by the caller and sent with every turn, so a
// restarted engine picks it up again without anything being lost.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Llama, LlamaChatSession, LlamaCompletion, LlamaContext, LlamaModel, ChatHistoryItem } from 'node-llama-cpp';
import type { ChatMessage, ModelInfo, Params, Result } from '../ipc/contract.ts';
import { HeadroomError } from '../ipc/rpc.ts';

export interface EngineEvents {
    loadProgress(path: string, progress: number): void;
    chunk(generationId: string, text: string): void;
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
    info: ModelInfo;
    chat: LlamaChatSession | null;
    completion: LlamaCompletion | null;
    // What the chat session currently holds; when a turn arrives with a different
    // history (edited, regenerated, or a restarted engine) the session is reset to it.
    history: ChatMessage[];
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

    constructor(events: EngineEvents) {
        this.#events = events;
    }

    async #getLlama(): Promise<{ lib: NodeLlamaCpp; llama: Llama }> {
        // Imported lazily so the host answers its parent before the native addon loads.
        this.#lib ??= await import('node-llama-cpp');
        this.#llama ??= await this.#lib.getLlama({
            gpu: process.env.HEADROOM_GPU === 'false' ? false : 'auto',
            build: 'never',
            logLevel: this.#lib.LlamaLogLevel.error,
        });
        return { lib: this.#lib, llama: this.#llama };
    }

    async load({ path: modelPath, contextSize, threads }: Params<'model.load'>): Promise<ModelInfo> {
        if (this.#generation != null || this.#loading) throw new HeadroomError('BUSY', 'The engine is busy; stop the current reply first.');
        this.#loading = true;
        try {
            await this.unload();
            const file = await stat(modelPath).catch(() => null);
            if (file == null || !file.isFile()) throw new HeadroomError('MODEL_LOAD_FAILED', `No model file at ${modelPath}.`);
            const { lib, llama } = await this.#getLlama();
            let model: LlamaModel;
            let reported = -1;
            try {
                model = await llama.loadModel({
                    modelPath,
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
                context = await model.createContext({
                    threads: threads ?? (file.size < SINGLE_THREAD_MODEL_BYTES ? 1 : llama.cpuMathCores),
                    contextSize: contextSize ?? { max: Math.min(model.trainContextSize || DEFAULT_MAX_CONTEXT, DEFAULT_MAX_CONTEXT) },
                });
            } catch (error) {
                await model.dispose();
                throw new HeadroomError('MODEL_LOAD_FAILED', `The model loaded, but a context of ${contextSize ?? 'the default'} tokens did not fit in memory: ${(error as Error).message}`);
            }
            const hasTemplate = typeof model.fileInfo.metadata.tokenizer?.chat_template === 'string';
            const chat = hasTemplate ? new lib.LlamaChatSession({ contextSequence: context.getSequence() }) : null;
            const completion = hasTemplate ? null : new lib.LlamaCompletion({ contextSequence: context.getSequence() });
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
            this.#loaded = { model, context, info, chat, completion, history: [] };
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
        try {
            if (loaded.chat != null) {
                if (!sameHistory(loaded.history, history)) loaded.chat.setChatHistory(toChatHistory(history));
                const reply = await loaded.chat.promptWithMeta(prompt, {
                    onTextChunk, signal: abort.signal, stopOnAbortSignal: true, maxTokens, temperature: 0,
                });
                loaded.history = [...history, { role: 'user', text: prompt }, { role: 'assistant', text: reply.responseText }];
                return { text: reply.responseText, stopReason: mapStopReason(reply.stopReason) };
            }
            // No chat template: continue the running text as plain completion.
            const transcript = [...history.map((m) => m.text), prompt].join('');
            const reply = await loaded.completion!.generateCompletionWithMeta(transcript, {
                onTextChunk, signal: abort.signal, stopOnAbortSignal: true,
                maxTokens: maxTokens ?? DEFAULT_COMPLETION_TOKENS, temperature: 0,
            });
            return { text: reply.response, stopReason: mapStopReason(reply.metadata.stopReason) };
        } catch (error) {
            if (error instanceof HeadroomError) throw error;
            throw new HeadroomError('GENERATION_FAILED', `Generation failed: ${(error as Error).message}`);
        } finally {
            this.#generation = null;
        }
    }

    stop(generationId?: string): boolean {
        const generation = this.#generation;
        if (generation == null || (generationId != null && generation.id !== generationId)) return false;
        generation.abort.abort();
        return true;
    }
}
