// Owns node-llama-cpp inside the engine host process: one model, one context, one chat.
// The conversation is owned by the backend (SQLite) and sent with every turn: documents,
// history and prompt. What the sequence already holds is reused, so a follow-up question
// reads only the new tokens; a restarted engine simply reads everything again.
import { createHash } from 'node:crypto';
import { mkdir, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ChatHistoryItem, Llama, LlamaChatSession, LlamaCompletion, LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { documentsSystemText } from '../common/documentPrompt.ts';
import type { ChatMessage, KvCompression, KvStats, MemoryStats, ModelInfo, Params, PrefillInfo, Result } from '../common/contract.ts';
import { HeadroomError } from '../common/rpc.ts';
import { kvUsageFromFormula, kvUsageFromStats, type KvUsage } from '../common/kv/usage.ts';
import { BufferLog, type MeasuredBuffers } from './llamaLog.ts';
import { LIVE_STATS_INTERVAL_MS, SpeedMeter } from './speedMeter.ts';
import { fitToMachine, flashAttentionOption, planMemory } from './planner.ts';
import type { FitResult, MemoryPlan, PlanInput, Prediction } from '../common/plan.ts';
import { createKvContext, defaultThreads } from './kv/context.ts';
import { buildChoice, buildSupportsHeadwise, cmakeOptionsFor, formatPolicyFile, KvLogCollector } from './kv/native.ts';
import { kvBytes, streamingCells, type HeadProfile, type KvOptions, type KvShape } from '../common/kv/policy.ts';
import { readProfile, storedProfileFor } from './kv/profiles.ts';
import { COMPRESSED_UBATCH, HEADWISE_ARCHITECTURES, kvShapeFromMetadata, planFromProfile, profileForLoad, type FoundProfile, type ResolvedKv } from './kv/resolve.ts';

export interface EngineEvents {
    loadProgress(path: string, progress: number): void;
    chunk(generationId: string, text: string): void;
    prefill(generationId: string, done: number, total: number): void;
    memoryStats(stats: MemoryStats): void;
}

const DEFAULT_MAX_CONTEXT = 8192;
const DEFAULT_COMPLETION_TOKENS = 256;
// Room a reply needs at the least; a prompt that leaves less is refused, never cut.
const MIN_REPLY_TOKENS = 16;
// Prefill in steps of this many tokens: fine enough for a smooth progress bar, coarse
// enough that the per-call overhead stays negligible next to the evaluation itself.
const PREFILL_CHUNK_TOKENS = 256;

type NodeLlamaCpp = typeof import('node-llama-cpp');

interface Loaded {
    model: LlamaModel;
    context: LlamaContext;
    sequence: LlamaContextSequence;
    info: ModelInfo;
    chat: LlamaChatSession | null;
    completion: LlamaCompletion | null;
    kv: LoadedKv;
    /** The stock cache as policy.ts sizes it (layers split like their weights); used when no plan runs. */
    formulaKv: KvUsage;
    /** What llama.cpp logged allocating for the model and the context. */
    measured: MeasuredBuffers;
    predicted: Prediction | null;
}

interface Generation {
    id: string;
    abort: AbortController;
    /** Set when the context filled up and compression forbade a context shift. */
    overflowed: boolean;
}

interface LoadedKv {
    compression: KvCompression;
    options: KvOptions | null;
    shape: KvShape | null;
    /** The plan the native cache runs; null for the stock cache. */
    resolved: ResolvedKv | null;
    collector: KvLogCollector;
}

/** A saved KV state only fits a cache of the same layout: the head plan matters as much as the cache type. */
function cacheLayoutOf(cacheType: string, flashAttention: string, resolved: ResolvedKv | null): string {
    const plan = resolved == null ? 'full' : createHash('sha256').update(formatPolicyFile(resolved.plan)).digest('hex').slice(0, 16);
    return `${cacheType}|fa-${flashAttention}|kv-${plan}`;
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

function contextOverflow(contextSize: number): HeadroomError {
    return new HeadroomError('CONTEXT_OVERFLOW', `The conversation no longer fits in the ${contextSize.toLocaleString('en-US')}-token context. With head-level KV compression on, Headroom does not drop the start of the conversation to make room: start a new chat, or load the model with a larger context.`);
}

function mapStopReason(reason: string): Result<'generate.run'>['stopReason'] {
    if (reason === 'abort') return 'aborted';
    if (reason === 'maxTokens') return 'maxTokens';
    return 'eos';
}

export class Engine {
    #events: EngineEvents;
    #llamaReady: Promise<{ lib: NodeLlamaCpp; llama: Llama }> | null = null;
    /** Set once #llamaReady resolves: memory snapshots read it without waiting for one to load. */
    #llama: Llama | null = null;
    #loaded: Loaded | null = null;
    #generation: Generation | null = null;
    #loading = false;
    #llamaWork: Promise<unknown> = Promise.resolve();
    #kvLog = new KvLogCollector();
    #buffers = new BufferLog();
    #speed = new SpeedMeter();

    constructor(events: EngineEvents) {
        this.#events = events;
    }

    /**
     * One Llama for the process, also when a load and a plan ask for it at once. A second
     * instance re-registers the addon's log callback, and the released first one, when it is
     * finalized, marks the process as having none: from then on llama.cpp's log goes to stdout
     * and a load no longer learns what it allocated or whether the head-level cache is on.
     */
    #getLlama(): Promise<{ lib: NodeLlamaCpp; llama: Llama }> {
        this.#llamaReady ??= this.#createLlama().catch((error: unknown) => {
            this.#llamaReady = null;
            throw error;
        });
        return this.#llamaReady;
    }

    async #createLlama(): Promise<{ lib: NodeLlamaCpp; llama: Llama }> {
        // Imported lazily so the host answers its parent before the native addon loads.
        const lib = await import('node-llama-cpp');
        const { LlamaLogLevel } = lib;
        // Our patched build when it is installed (npm run build:native), else the stock prebuilt
        // binary: both are looked up by their CMake options, never built here.
        const llama = await lib.getLlama({
            gpu: process.env.HEADROOM_GPU === 'false' ? false : 'auto',
            build: 'never',
            cmakeOptions: cmakeOptionsFor(buildChoice()),
            // Info level: llama.cpp reports its buffers (KV, weights, compute) there; only errors
            // go to stderr, where the supervisor looks for out-of-memory messages.
            logLevel: LlamaLogLevel.info,
            logger: (level, message) => {
                for (const line of message.split('\n')) {
                    this.#kvLog.take(line);
                    this.#buffers.observe(line);
                }
                if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) {
                    process.stderr.write(message.endsWith('\n') ? message : `${message}\n`);
                }
            },
        });
        this.#llama = llama;
        return { lib, llama };
    }

    async load(params: Params<'model.load'>): Promise<ModelInfo> {
        if (this.#generation != null || this.#loading) throw new HeadroomError('BUSY', 'The engine is busy; stop the current reply first.');
        this.#loading = true;
        try {
            return await this.#oneAtATime(() => this.#load(params));
        } finally {
            this.#loading = false;
        }
    }

    /**
     * Runs llama.cpp work that must not overlap another's. node-llama-cpp's memory estimates
     * (plan, fit) quiet llama.cpp's log for the whole process while they simulate a load, and a
     * real load learns what it allocated, and whether the head-level cache is on, from that log.
     */
    #oneAtATime<T>(work: () => Promise<T>): Promise<T> {
        const run = this.#llamaWork.then(work, work);
        this.#llamaWork = run.catch(() => undefined);
        return run;
    }

    async #load({ path: modelPath, contextSize, threads, kv, gpuLayers, flashAttention, kvCacheType }: Params<'model.load'>): Promise<ModelInfo> {
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
        const metadata = model.fileInfo.metadata;
        const architecture = String(metadata.general?.architecture ?? 'unknown');
        const wantKv = kv != null && kv.mode !== 'off';
        const compression = this.#kvAvailability(llama.systemInfo, architecture, wantKv);
        // With compression the context size is fixed up front: the plan's budget is a share of it.
        const contextTokens = contextSize ?? Math.min(model.trainContextSize || DEFAULT_MAX_CONTEXT, DEFAULT_MAX_CONTEXT);
        const shape = kvShapeFromMetadata(metadata as Record<string, unknown>, contextTokens, wantKv ? COMPRESSED_UBATCH : contextTokens, kvCacheType);
        let resolved: ResolvedKv | null = null;
        let profile: FoundProfile | null = null;
        if (wantKv && shape != null) {
            try {
                // the explicit profile file, else the one `npm run profile` stored for this model
                profile = await profileForLoad(kv, shape, modelPath);
                if (compression.available) resolved = planFromProfile(kv, shape, llama.gpu !== false, profile);
            } catch (error) {
                await model.dispose();
                throw error;
            }
        }
        let context: LlamaContext;
        const collector = this.#kvLog;
        try {
            const cacheType = kvCacheType === 'q8_0' ? 'Q8_0' : 'F16';
            context = await createKvContext(model, resolved?.plan ?? null, {
                ...(flashAttention != null ? { flashAttention: flashAttentionOption(flashAttention) } : {}),
                ...(kvCacheType != null ? { experimentalKvCacheKeyType: cacheType, experimentalKvCacheValueType: cacheType } : {}),
                threads: threads ?? defaultThreads(llama, file.size),
                contextSize: resolved != null ? contextTokens : (contextSize ?? { max: contextTokens }),
            }, collector);
        } catch (error) {
            await model.dispose();
            throw new HeadroomError('MODEL_LOAD_FAILED', `The model loaded, but a context of ${contextSize ?? 'the default'} tokens did not fit in memory: ${(error as Error).message}`);
        } finally {
            this.#kvLog = new KvLogCollector();
        }
        const loadedKv = this.#kvOutcome(compression, resolved, collector, kv ?? null, shape);
        const hasTemplate = typeof model.fileInfo.metadata.tokenizer?.chat_template === 'string';
        const sequence = context.getSequence();
        // With compression on, a full context is a clear error, never a shift (see #refuseContextShift).
        const contextShift = loadedKv.compression.active ? { strategy: this.#refuseContextShift } : undefined;
        const chat = hasTemplate ? new lib.LlamaChatSession({ contextSequence: sequence, contextShift }) : null;
        const completion = hasTemplate ? null : new lib.LlamaCompletion({ contextSequence: sequence });
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
            kv: loadedKv.compression,
            cacheLayout: cacheLayoutOf(kvCacheType ?? 'f16', flashAttention ?? 'auto', loadedKv.resolved),
        };
        if (wantKv && !loadedKv.compression.active) console.error(`Headroom KV compression: ${loadedKv.compression.reason}`);
        const stockShape = kvShapeFromMetadata(metadata as Record<string, unknown>, context.contextSize, context.batchSize, kvCacheType);
        const predicted = await planMemory(llama, {
            path: modelPath, contextSize: context.contextSize, gpuLayers: model.gpuLayers,
            kv: kv ?? undefined, kvCacheType: kvCacheType ?? 'f16', flashAttention: flashAttention ?? 'auto',
        }, profile?.profile ?? null).then((plan) => plan.predicted, () => null);
        this.#loaded = {
            model, context, sequence, info, chat, completion, kv: loadedKv,
            formulaKv: stockShape == null
                ? kvUsageFromFormula({ layers: 0, kvHeads: 0, bytesPerHeadToken: 0, contextCells: context.contextSize, ubatch: context.batchSize }, null, { gpuLayers: 0 })
                : kvUsageFromFormula(stockShape, null, { gpuLayers: Math.min(model.gpuLayers, stockShape.layers) }),
            measured: this.#buffers.measured,
            predicted,
        };
        this.#speed.start();
        void this.#pushStats(false);
        return info;
    }

    /** Whether this build and this architecture can run the head-level cache at all. */
    #kvAvailability(systemInfo: string, architecture: string, wanted: boolean): KvCompression {
        if (!buildSupportsHeadwise(systemInfo)) {
            return { available: false, active: false, reason: 'This llama.cpp build has no head-level KV cache (the stock binary is loaded); run `npm run build:native` to build it.' };
        }
        if (!HEADWISE_ARCHITECTURES.has(architecture)) {
            return { available: false, active: false, reason: `Head-level KV compression does not support the ${architecture} architecture yet; the full cache is used.` };
        }
        return { available: true, active: false, reason: wanted ? null : 'Compression is off.' };
    }

    /** What the native side did with the plan, from the lines it logged. */
    #kvOutcome(compression: KvCompression, resolved: ResolvedKv | null, collector: KvLogCollector, options: KvOptions | null, shape: KvShape | null): LoadedKv {
        if (resolved == null) return { compression, options, shape, resolved: null, collector };
        if (collector.unavailableFor != null || collector.buffers.length === 0) {
            const reason = collector.unavailableFor != null
                ? `llama.cpp has no head-level cache for the ${collector.unavailableFor} architecture; the full cache is used.`
                : 'llama.cpp did not report a head-level cache for this context; the full cache is used.';
            return { compression: { available: false, active: false, reason }, options, shape, resolved: null, collector };
        }
        return { compression: { available: true, active: true, reason: null }, options, shape, resolved, collector };
    }

    /** The KV cache of the loaded model: planned bytes per device, policy and head, and what llama.cpp allocated. */
    kvStats(): KvStats {
        const loaded = this.#loaded;
        if (loaded == null) throw new HeadroomError('NO_MODEL', 'No model is loaded. Pick a model first.');
        const { kv, context } = loaded;
        const shape = kv.shape ?? { layers: 0, kvHeads: 0, bytesPerHeadToken: 0, contextCells: context.contextSize, ubatch: context.batchSize };
        const compute = loaded.info.gpu === 'cpu' ? 'cpu' : 'gpu';
        const plan = kv.resolved?.plan ?? null;
        const planned = kvBytes(shape, plan, compute);
        const stream = plan == null ? 0 : streamingCells(shape, plan.sinks, plan.window);
        const tokensInContext = loaded.sequence.contextTokens.length;
        const buffers = plan != null
            ? kv.collector.buffers.map((b) => ({ kind: b.kind, bufferType: b.bufferType, device: b.device, bytes: b.bytes, cells: b.cells }))
            : kv.collector.stockBuffers.map((b) => ({ kind: 'stock' as const, bufferType: b.bufferType, device: b.device, bytes: b.bytes, cells: shape.contextCells }));
        const sum = (device: 'gpu' | 'cpu') => buffers.filter((b) => b.device === device).reduce((a, b) => a + b.bytes, 0);
        return {
            compression: kv.compression,
            mode: plan == null ? 'off' : kv.options!.mode,
            budget: kv.resolved?.budget ?? 1,
            profile: kv.resolved?.profile ?? null,
            sinks: plan?.sinks ?? 0,
            window: plan?.window ?? shape.contextCells,
            fullPlacement: plan?.fullPlacement ?? compute,
            contextCells: shape.contextCells,
            streamingCells: stream,
            tokens: {
                context: tokensInContext,
                full: Math.min(tokensInContext, shape.contextCells),
                streaming: plan == null ? 0 : Math.min(tokensInContext, plan.sinks + plan.window),
            },
            policy: plan?.policy ?? Array.from({ length: shape.layers }, () => Array(shape.kvHeads).fill('full')),
            planned,
            allocated: { gpu: sum('gpu'), cpu: sum('cpu'), buffers },
        };
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

    /**
     * The chat session's context-shift strategy while compression is on. A shift erases early
     * tokens and shifts the rest (llama_memory_seq_add), which the head-level cache refuses, and
     * node-llama-cpp would then re-evaluate a history with its start (often the document)
     * dropped. A throwing strategy is replaced by the default one, so this one stops the
     * generation instead and generate() reports the overflow. (generate() sizes replies to fit,
     * so this is the safety net, not the rule.)
     */
    #refuseContextShift = ({ chatHistory }: { chatHistory: readonly ChatHistoryItem[] }) => {
        if (this.#generation != null) {
            this.#generation.overflowed = true;
            this.#generation.abort.abort();
        }
        return { chatHistory: [...chatHistory], metadata: null };
    };

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
        const generation: Generation = { id: generationId, abort, overflowed: false };
        this.#generation = generation;
        const onTextChunk = (text: string) => this.#events.chunk(generationId, text);
        const onToken = (tokens: readonly unknown[]) => this.#speed.add(tokens.length);
        this.#speed.start();
        // Pushed, not polled: the window sees memory move while the reply streams.
        const ticker = LIVE_STATS_INTERVAL_MS > 0 ? setInterval(() => void this.#pushStats(true), LIVE_STATS_INTERVAL_MS) : undefined;
        try {
            const system = documentsSystemText(documents);
            if (loaded.chat == null) return await this.#complete(loaded, generationId, system, history, prompt, maxTokens, abort.signal, onToken);
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
                onTextChunk, onToken, signal: abort.signal, stopOnAbortSignal: true, temperature: 0,
                maxTokens: maxTokens ?? contextSize - promptTokens.length,
            });
            if (generation.overflowed) throw contextOverflow(contextSize);
            return { text: reply.responseText, stopReason: mapStopReason(reply.stopReason), prefill };
        } catch (error) {
            if (error instanceof HeadroomError) throw error;
            if (generation.overflowed) throw contextOverflow(loaded.context.contextSize);
            throw new HeadroomError('GENERATION_FAILED', `Generation failed: ${(error as Error).message}`);
        } finally {
            clearInterval(ticker);
            this.#generation = null;
            void this.#pushStats(false);
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
        maxTokens: number | undefined, signal: AbortSignal, onToken: (tokens: readonly unknown[]) => void,
    ): Promise<Result<'generate.run'>> {
        const transcript = [...(system != null ? [`${system}\n\n`] : []), ...history.map((m) => m.text), prompt].join('');
        const tokens = loaded.model.tokenize(transcript).length;
        if (tokens + MIN_REPLY_TOKENS > loaded.context.contextSize) {
            throw new HeadroomError('CONTEXT_OVERFLOW', `This chat needs ${tokens.toLocaleString('en-US')} tokens plus room for a reply, but the context holds ${loaded.context.contextSize.toLocaleString('en-US')}. Load the model with a larger context size, or remove a document.`);
        }
        const started = performance.now();
        const reply = await loaded.completion!.generateCompletionWithMeta(transcript, {
            onTextChunk: (text) => this.#events.chunk(generationId, text), onToken, signal, stopOnAbortSignal: true,
            maxTokens: maxTokens ?? DEFAULT_COMPLETION_TOKENS, temperature: 0,
        });
        return {
            text: reply.response,
            stopReason: mapStopReason(reply.metadata.stopReason),
            prefill: { tokens, reusedTokens: 0, ms: performance.now() - started, snapshot: 'none', originalPrefillMs: null },
        };
    }

    async plan(request: PlanInput): Promise<MemoryPlan> {
        const { llama } = await this.#getLlama();
        await this.#checkModelFile(request.path);
        const profile = await this.#profileFor(request);
        return this.#oneAtATime(() => planMemory(llama, request, profile)).catch((error) => this.#unreadable(request.path, error));
    }

    async fit(request: PlanInput, goal: 'context' | 'compression'): Promise<FitResult> {
        const { llama } = await this.#getLlama();
        await this.#checkModelFile(request.path);
        const profile = await this.#profileFor(request);
        return this.#oneAtATime(() => fitToMachine(llama, request, goal, profile)).catch((error) => this.#unreadable(request.path, error));
    }

    /** The head profile a plan for this request uses: its explicit file, else the stored one (as a load would). */
    async #profileFor(request: PlanInput): Promise<HeadProfile | null> {
        if (request.kv?.profile != null) return readProfile(request.kv.profile);
        return (await storedProfileFor(request.path).catch(() => null))?.profile ?? null;
    }

    #unreadable(modelPath: string, error: unknown): never {
        if (error instanceof HeadroomError) throw error;
        throw new HeadroomError('MODEL_LOAD_FAILED', `Could not read ${path.basename(modelPath)}: ${(error as Error).message} Is it a valid GGUF model file?`);
    }

    async #checkModelFile(modelPath: string): Promise<void> {
        const file = await stat(modelPath).catch(() => null);
        if (file == null || !file.isFile()) throw new HeadroomError('NOT_FOUND', `No model file at ${modelPath}.`);
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
        return {
            at: Date.now(),
            generating: this.#generation != null,
            gpu,
            processRamBytes: process.memoryUsage.rss(),
            kv: loaded == null ? null : loaded.kv.resolved != null ? kvUsageFromStats(this.kvStats(), loaded.kv.resolved.scores) : loaded.formulaKv,
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
