// Owns node-llama-cpp inside the engine host process: one model, one context, one chat.
// The conversation is owned by the backend (SQLite) and sent with every turn: documents,
// history and prompt. What the sequence already holds is reused, so a follow-up question
// reads only the new tokens; a restarted engine simply reads everything again.
import * as fs from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { ChatHistoryItem, LlamaChatSession, LlamaCompletion, LlamaContextSequence } from 'node-llama-cpp';
import type { MemoryStats, ModelInfo, Params, ProfileEstimate, Result } from '../common/contract.ts';
import { engineBusy, errorMessage, HeadroomError, noModelLoaded } from '../common/errors.ts';
import type { FitGoal, FitResult, MemoryPlan, PlanInput, Prediction } from '../common/plan.ts';
import type { KvStats } from '../common/kv/usage.ts';
import type { DeviceBytes } from '../common/devices.ts';
import { contextOverflow, generateChat, type GenerationRun } from './chat.ts';
import { generateCompletion } from './completion.ts';
import { formatPolicyFile } from './kv/native.ts';
import { profileStamp } from './kv/profiles.ts';
import { summarizeProfile } from '../common/kv/policy.ts';
import { loadModel, type LoadedModel } from './load.ts';
import { fit, plan, planMemory } from './planner.ts';
import { estimateProfile, measurePromptSpeed } from './profiler/estimate.ts';
import { backendOf, runtime } from './runtime.ts';
import { SpeedMeter } from './speedMeter.ts';
import { kvStatsOf, LIVE_STATS_INTERVAL_MS, memoryStatsOf } from './stats.ts';
import { checkGgufFile } from '../common/ggufHeader.ts';
import { checkChatTemplate } from './chatTemplate.ts';
import { modelSha256 } from './modelHash.ts';

export interface EngineEvents {
    loadProgress: (path: string, progress: number) => void;
    chunk: (generationId: string, text: string) => void;
    prefill: (generationId: string, done: number, total: number) => void;
    memoryStats: (stats: MemoryStats) => void;
}

/** A loaded model and how it is talked to: a chat session, or plain completion without a chat template. */
type Loaded = {
    loaded: LoadedModel;
    /** The request and file it was loaded from: the same request for the same file is already answered. */
    loadedFrom: string;
    sequence: LlamaContextSequence;
    info: ModelInfo;
    predicted: Prediction | null;
    /** Seconds the load took, and prompt tokens a second once measured: what a profiling estimate needs. */
    loadSeconds: number;
    /** The file's size and modification time when it was loaded: a snapshot is keyed by this file's identity only while they hold. */
    fileStamp: { size: number; mtimeMs: number };
    promptSpeed: number | null;
} & ({ chatMode: 'chat'; chat: LlamaChatSession } | { chatMode: 'completion'; completion: LlamaCompletion });

interface Generation {
    id: string;
    abort: AbortController;
    /** Set when the context filled up and compression forbade a context shift. */
    overflowed: boolean;
}

/** A saved KV state only fits a cache of the same layout: the head plan matters as much as the cache type. */
function cacheLayoutOf(loaded: LoadedModel, params: Params<'model.load'>): string {
    const plan = loaded.kv.resolved?.plan;
    const planHash = plan == null ? 'full' : createHash('sha256').update(formatPolicyFile(plan)).digest('hex').slice(0, 16);
    return `${params.kvCacheType ?? 'f16'}|fa-${params.flashAttention ?? 'auto'}|kv-${planHash}`;
}

export class Engine {
    #events: EngineEvents;
    #loaded: Loaded | null = null;
    #generation: Generation | null = null;
    #loading = false;
    #speed = new SpeedMeter();
    /** Memory snapshots started, and the latest one pushed: they go out in the order they were taken. */
    #statsPushes = 0;
    #statsPushed = 0;

    constructor(events: EngineEvents) {
        this.#events = events;
    }

    async load(params: Params<'model.load'>): Promise<ModelInfo> {
        if (this.#generation != null || this.#loading) throw engineBusy();
        this.#loading = true;
        try {
            return await runtime.exclusive(() => this.#load(params));
        } finally {
            this.#loading = false;
        }
    }

    async #load(params: Params<'model.load'>): Promise<ModelInfo> {
        // A file that cannot be a model is refused while the model that works stays loaded.
        const header = await checkGgufFile(fs, params.path);
        // node-llama-cpp runs the file's chat template in this thread: one that never ends is refused first.
        if (header.chatTemplate != null && header.chatTemplate.trim() !== '') await checkChatTemplate(header.chatTemplate, path.basename(params.path));
        // the same load again is a no-op, unless the model's head profile was written since
        const profile = params.kv != null && params.kv.mode !== 'off' ? await profileStamp(params.path, params.kv.profile) : null;
        const loadedFrom = JSON.stringify([params, header.fileBytes, header.modifiedMs, profile]);
        if (this.#loaded?.loadedFrom === loadedFrom) return this.#loaded.info;
        await this.unload();
        const { lib, llama, build } = await runtime.get();
        const started = performance.now();
        const loaded = await loadModel({ ...params, onProgress: (progress) => this.#events.loadProgress(params.path, progress) });
        const loadSeconds = (performance.now() - started) / 1000;
        const { model, context, kv } = loaded;
        const sequence = context.getSequence();
        // With compression on, a full context is a clear error, never a shift (see #refuseContextShift).
        const contextShift = kv.compression.active ? { strategy: this.#refuseContextShift } : undefined;
        const session: { chatMode: 'chat'; chat: LlamaChatSession } | { chatMode: 'completion'; completion: LlamaCompletion } =
            typeof model.fileInfo.metadata.tokenizer?.chat_template === 'string'
                ? { chatMode: 'chat', chat: new lib.LlamaChatSession({ contextSequence: sequence, contextShift }) }
                : { chatMode: 'completion', completion: new lib.LlamaCompletion({ contextSequence: sequence }) };
        const metadata = model.fileInfo.metadata;
        const info: ModelInfo = {
            path: params.path,
            name: metadata.general?.name ?? path.basename(params.path, '.gguf'),
            sizeBytes: loaded.fileBytes,
            architecture: loaded.architecture,
            layers: Number((metadata as Record<string, { block_count?: number } | undefined>)[loaded.architecture]?.block_count ?? 0),
            contextSize: context.contextSize,
            trainContextSize: model.trainContextSize,
            chatMode: session.chatMode,
            chatWrapper: session.chatMode === 'chat' ? session.chat.chatWrapper.wrapperName : 'none',
            gpu: backendOf(llama),
            threads: context.currentThreads,
            kv: kv.compression,
            kvMode: params.kv?.mode ?? 'off',
            headProfile: kv.profile == null ? null : summarizeProfile(kv.profile),
            engine: build,
            cacheLayout: cacheLayoutOf(loaded, params),
            modifiedMs: header.modifiedMs,
        };
        const wantKv = params.kv != null && params.kv.mode !== 'off';
        if (wantKv && !kv.compression.active) console.error(`Headroom KV compression: ${kv.compression.reason}`);
        const predicted = await planMemory(llama, {
            path: params.path, contextSize: context.contextSize, gpuLayers: model.gpuLayers,
            kv: params.kv, kvCacheType: params.kvCacheType ?? 'f16', flashAttention: params.flashAttention ?? 'auto',
        }, kv.profile?.profile ?? null).then((memoryPlan) => memoryPlan.predicted, () => null);
        this.#loaded = { loaded, loadedFrom, sequence, info, predicted, loadSeconds, promptSpeed: null, fileStamp: { size: header.fileBytes, mtimeMs: header.modifiedMs }, ...session };
        this.#speed.start();
        void this.#pushStats(false);
        return info;
    }

    /** The loaded model's description; null when none is loaded. */
    get loadedModel(): ModelInfo | null {
        return this.#loaded?.info ?? null;
    }

    /**
     * The memory a load would give back before it allocates (it unloads the loaded model first):
     * the loaded model's buffers on the GPU, and its KV and compute buffers in RAM (its weights are
     * mapped from the file, which the system already counts as available).
     */
    #reclaimable(): DeviceBytes | undefined {
        const measured = this.#loaded?.loaded.measured;
        if (measured == null) return undefined;
        return { gpu: measured.weights.gpu + measured.kv.gpu + measured.compute.gpu, cpu: measured.kv.cpu + measured.compute.cpu };
    }

    /** The loaded model, or the refusal for requests that need one. */
    #model(): Loaded {
        if (this.#loaded == null) throw noModelLoaded();
        return this.#loaded;
    }

    /** The KV cache of the loaded model: planned bytes per device, policy and head, and what llama.cpp allocated. */
    async kvStats(): Promise<KvStats> {
        const current = this.#model();
        const { llama } = await runtime.get();
        return kvStatsOf(current.loaded, llama, current.sequence.contextTokens.length);
    }

    /** What profiling the loaded model would take here (kv.profileEstimate): its prompt speed is measured once. */
    async estimateProfile(params: Params<'kv.profileEstimate'>): Promise<ProfileEstimate> {
        const current = this.#model();
        if (current.loaded.path !== params.path) throw new HeadroomError('BAD_REQUEST', 'Only the loaded model\'s profiling time can be estimated.', 'path');
        if (this.#generation != null || this.#loading) throw engineBusy();
        current.promptSpeed ??= await runtime.exclusive(() => measurePromptSpeed(current.loaded));
        return estimateProfile(current.loaded, params, { tokensPerSecond: current.promptSpeed, loadSeconds: current.loadSeconds });
    }

    async unload(): Promise<void> {
        this.#generation?.abort.abort();
        const current = this.#loaded;
        this.#loaded = null;
        if (current == null) return;
        if (current.chatMode === 'chat') current.chat.dispose();
        await current.loaded.dispose();
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

    /**
     * What the loaded model's KV snapshots are keyed by: the file's sha256 (read once per file
     * version, engine/modelHash.ts), the context size and the cache's layout. Refused when the file
     * changed since it was loaded: its sha256 would not be the loaded model's.
     */
    async #snapshotModel(current: Loaded): Promise<string> {
        const { path: file, contextSize, cacheLayout } = current.info;
        const now = await fs.stat(file).catch(() => null);
        if (now?.size !== current.fileStamp.size || now.mtimeMs !== current.fileStamp.mtimeMs) {
            throw new Error(`${path.basename(file)} changed on disk since it was loaded`);
        }
        return `sha256:${await modelSha256(file)}|ctx${contextSize}|${cacheLayout ?? ''}`;
    }

    countTokens(texts: readonly string[]): number[] {
        const { model } = this.#model().loaded;
        return texts.map((text) => model.tokenize(text).length);
    }

    async generate(params: Params<'generate.run'>): Promise<Result<'generate.run'>> {
        const current = this.#model();
        if (this.#generation != null || this.#loading) throw new HeadroomError('BUSY', 'A reply is already being generated.');
        const generation: Generation = { id: params.generationId, abort: new AbortController(), overflowed: false };
        this.#generation = generation;
        const run: GenerationRun = {
            signal: generation.abort.signal,
            onChunk: (text) => this.#events.chunk(params.generationId, text),
            onToken: (tokens) => this.#speed.add(tokens.length),
            onPrefill: (done, total) => this.#events.prefill(params.generationId, done, total),
            snapshotModel: () => this.#snapshotModel(current),
        };
        this.#speed.start();
        // Pushed, not polled: the window sees memory move while the reply streams.
        const ticker = LIVE_STATS_INTERVAL_MS > 0 ? setInterval(() => void this.#pushStats(true), LIVE_STATS_INTERVAL_MS) : undefined;
        const contextSize = current.loaded.context.contextSize;
        try {
            const reply = current.chatMode === 'chat'
                ? await generateChat(current.chat, params, run, current.loaded.kv.compression.active)
                : await generateCompletion(current.completion, current.sequence, params, run);
            if (generation.overflowed) throw contextOverflow(contextSize);
            return reply;
        } catch (error) {
            if (error instanceof HeadroomError) throw error;
            if (generation.overflowed) throw contextOverflow(contextSize);
            // Stop pressed while the prompt was still being read: a stopped reply, not a failure.
            if (generation.abort.signal.aborted) {
                return { text: '', stopReason: 'aborted', prefill: { tokens: 0, reusedTokens: 0, ms: 0, snapshot: 'none', originalPrefillMs: null } };
            }
            throw new HeadroomError('GENERATION_FAILED', `Generation failed: ${errorMessage(error)}`);
        } finally {
            clearInterval(ticker);
            this.#generation = null;
            // Before the reply goes back: whoever hears it has already heard that generation ended.
            await this.#pushStats(false);
        }
    }

    /** What a load would need, counting the loaded model's memory as free: a load unloads it first. */
    plan(request: PlanInput): Promise<MemoryPlan> {
        return plan(request, this.#reclaimable());
    }

    fit(request: PlanInput, goal: FitGoal): Promise<FitResult> {
        return fit(request, goal, this.#reclaimable());
    }

    async memoryStats(): Promise<MemoryStats> {
        const current = this.#loaded;
        return memoryStatsOf({
            llama: runtime.llama,
            loaded: current == null ? null : { model: current.loaded, usedTokens: current.sequence.nextTokenIndex, predicted: current.predicted },
            speed: this.#speed,
            generating: this.#generation != null,
        });
    }

    async #pushStats(generating: boolean): Promise<void> {
        const push = ++this.#statsPushes;
        try {
            const stats = await this.memoryStats();
            // A snapshot that took longer than a later one is stale: never push it after that one.
            if (push < this.#statsPushed) return;
            this.#statsPushed = push;
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
