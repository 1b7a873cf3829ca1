// Owns node-llama-cpp inside the engine host process: one model, one context, one chat.
// The conversation is owned by the backend (SQLite) and sent with every turn: documents,
// history and prompt. What the sequence already holds is reused, so a follow-up question
// reads only the new tokens; a restarted engine simply reads everything again.
import { mkdir, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ChatHistoryItem, Llama, LlamaChatSession, LlamaCompletion, LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { documentsSystemText } from '../documents/prompt.ts';
import type { ChatMessage, ModelInfo, Params, PrefillInfo, Result } from '../ipc/contract.ts';
import { HeadroomError } from '../ipc/rpc.ts';

export interface EngineEvents {
    loadProgress(path: string, progress: number): void;
    chunk(generationId: string, text: string): void;
    prefill(generationId: string, done: number, total: number): void;
}

const DEFAULT_MAX_CONTEXT = 8192;
const DEFAULT_COMPLETION_TOKENS = 256;
// Room a reply needs at the least; a prompt that leaves less is refused, never cut.
const MIN_REPLY_TOKENS = 16;
// Prefill in steps of this many tokens: fine enough for a smooth progress bar, coarse
// enough that the per-call overhead stays negligible next to the evaluation itself.
const PREFILL_CHUNK_TOKENS = 256;
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
}

function sharedPrefix(a: readonly Token[], b: readonly Token[]): number {
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    return i;
}

function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
    return messages.map((m) => m.role === 'user'
        ? { type: 'user', text: m.text }
        : { type: 'model', response: [m.text] });
}

function mapStopReason(reason: string): Result<'generate.run'>['stopReason'] {
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
            this.#loaded = { model, context, info, chat, completion };
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

    countTokens(texts: readonly string[]): number[] {
        const loaded = this.#loaded;
        if (loaded == null) throw new HeadroomError('NO_MODEL', 'No model is loaded. Pick a model first.');
        return texts.map((text) => loaded.model.tokenize(text).length);
    }

    async generate({ generationId, documents, history, prompt, maxTokens, snapshot }: Params<'generate.run'>): Promise<Result<'generate.run'>> {
        const loaded = this.#loaded;
        if (loaded == null) throw new HeadroomError('NO_MODEL', 'No model is loaded. Pick a model first.');
        if (this.#generation != null || this.#loading) throw new HeadroomError('BUSY', 'A reply is already being generated.');
        const abort = new AbortController();
        this.#generation = { id: generationId, abort };
        const onTextChunk = (text: string) => this.#events.chunk(generationId, text);
        try {
            const system = documentsSystemText(documents);
            if (loaded.chat == null) return await this.#complete(loaded, generationId, system, history, prompt, maxTokens, abort.signal);
            const chatHistory: ChatHistoryItem[] = [...(system != null ? [{ type: 'system' as const, text: system }] : []), ...toChatHistory(history)];
            // The tokens the chat session will evaluate, rendered exactly as it renders them.
            const render = (items: ChatHistoryItem[]) => loaded.chat!.chatWrapper
                .generateContextState({ chatHistory: items }).contextText.tokenize(loaded.model.tokenizer);
            const promptTokens = render([...chatHistory, { type: 'user', text: prompt }, { type: 'model', response: [] }]);
            const contextSize = loaded.context.contextSize;
            if (promptTokens.length + MIN_REPLY_TOKENS > contextSize) {
                throw new HeadroomError('CONTEXT_OVERFLOW', `This chat needs ${promptTokens.length.toLocaleString('en-US')} tokens plus room for a reply, but the context holds ${contextSize.toLocaleString('en-US')}. Load the model with a larger context size, or remove a document.`);
            }
            const documentTokens = system == null ? 0 : sharedPrefix(render(chatHistory.slice(0, 1)), promptTokens);
            const sequence = loaded.chat.sequence;
            const prefill = await this.#prefill(sequence, promptTokens, documentTokens, snapshot, generationId, abort.signal);
            if (abort.signal.aborted) return { text: '', stopReason: 'aborted', prefill };
            loaded.chat.setChatHistory(chatHistory);
            const reply = await loaded.chat.promptWithMeta(prompt, {
                onTextChunk, signal: abort.signal, stopOnAbortSignal: true, temperature: 0,
                maxTokens: maxTokens ?? contextSize - promptTokens.length,
            });
            return { text: reply.responseText, stopReason: mapStopReason(reply.stopReason), prefill };
        } catch (error) {
            if (error instanceof HeadroomError) throw error;
            throw new HeadroomError('GENERATION_FAILED', `Generation failed: ${(error as Error).message}`);
        } finally {
            this.#generation = null;
        }
    }

    /**
     * Bring the sequence up to all but the last prompt token, in chunks so the UI can show
     * "reading document… n / N", reusing what the sequence already holds, restoring the
     * documents' KV state from disk when asked, or saving it right after the documents.
     */
    async #prefill(
        sequence: LlamaContextSequence, tokens: Token[], documentTokens: number,
        snapshot: Params<'generate.run'>['snapshot'], generationId: string, signal: AbortSignal,
    ): Promise<PrefillInfo> {
        const started = performance.now();
        const readBefore = sequence.tokenMeter.usedInputTokens;
        // The chat session evaluates the last token itself as it starts to generate.
        const target = tokens.slice(0, -1);
        let state: PrefillInfo['snapshot'] = 'none';
        let shared = sequence.compareContextTokens(target).firstDifferentIndex;
        if (snapshot?.restore && documentTokens > 0 && shared < documentTokens) {
            try {
                await sequence.loadStateFromFile(snapshot.file, { acceptRisk: true });
                state = 'restored';
            } catch {
                await sequence.clearHistory(); // a missing or damaged snapshot: read the documents again
            }
            shared = sequence.compareContextTokens(target).firstDifferentIndex;
        }
        if (shared < sequence.nextTokenIndex) await sequence.eraseContextTokenRanges([{ start: shared, end: sequence.nextTokenIndex }]);
        const saveAt = snapshot != null && !snapshot.restore && documentTokens > 0 ? documentTokens : null;
        const save = async () => {
            await mkdir(path.dirname(snapshot!.file), { recursive: true });
            const partial = `${snapshot!.file}.partial`;
            await sequence.saveStateToFile(partial);
            await rename(partial, snapshot!.file); // never a half-written snapshot under the real name
            state = 'saved';
        };
        this.#events.prefill(generationId, shared, target.length);
        for (let at = shared; at < target.length && !signal.aborted;) {
            let end = Math.min(target.length, at + PREFILL_CHUNK_TOKENS);
            if (saveAt != null && at < saveAt && end > saveAt) end = saveAt;
            await sequence.evaluateWithoutGeneratingNewTokens(target.slice(at, end));
            at = end;
            this.#events.prefill(generationId, at, target.length);
            if (at === saveAt) await save();
        }
        // The documents were already in the sequence (an earlier turn): save what it holds.
        if (saveAt != null && state === 'none' && !signal.aborted) await save();
        const read = sequence.tokenMeter.usedInputTokens - readBefore;
        return {
            tokens: tokens.length,
            reusedTokens: Math.max(0, target.length - read),
            ms: performance.now() - started,
            snapshot: state,
            originalPrefillMs: null,
        };
    }

    /** No chat template: documents, then the running text, continued as plain completion. */
    async #complete(
        loaded: Loaded, generationId: string, system: string | null, history: readonly ChatMessage[], prompt: string,
        maxTokens: number | undefined, signal: AbortSignal,
    ): Promise<Result<'generate.run'>> {
        const transcript = [...(system != null ? [`${system}\n\n`] : []), ...history.map((m) => m.text), prompt].join('');
        const tokens = loaded.model.tokenize(transcript).length;
        if (tokens + MIN_REPLY_TOKENS > loaded.context.contextSize) {
            throw new HeadroomError('CONTEXT_OVERFLOW', `This chat needs ${tokens.toLocaleString('en-US')} tokens plus room for a reply, but the context holds ${loaded.context.contextSize.toLocaleString('en-US')}. Load the model with a larger context size, or remove a document.`);
        }
        const started = performance.now();
        const reply = await loaded.completion!.generateCompletionWithMeta(transcript, {
            onTextChunk: (text) => this.#events.chunk(generationId, text), signal, stopOnAbortSignal: true,
            maxTokens: maxTokens ?? DEFAULT_COMPLETION_TOKENS, temperature: 0,
        });
        return {
            text: reply.response,
            stopReason: mapStopReason(reply.metadata.stopReason),
            prefill: { tokens, reusedTokens: 0, ms: performance.now() - started, snapshot: 'none', originalPrefillMs: null },
        };
    }

    stop(generationId?: string): boolean {
        const generation = this.#generation;
        if (generation == null || (generationId != null && generation.id !== generationId)) return false;
        generation.abort.abort();
        return true;
    }
}
