// What the engine reports about memory: the loaded model's KV cache (engine.kvStats, planned
// next to allocated) and the live snapshot the host pushes while it generates (memory.stats).
import type { Llama } from 'node-llama-cpp';
import type { MemoryStats } from '../common/contract.ts';
import { sumByDevice } from '../common/devices.ts';
import { kvBytes, policyAt, streamingCells } from '../common/kv/policy.ts';
import { kvUsageFromFormula, kvUsageFromStats, type KvBuffer, type KvStats, type KvUsage } from '../common/kv/usage.ts';
import type { Prediction } from '../common/plan.ts';
import type { LoadedModel } from './load.ts';
import { backendOf, computeDevice } from './runtime.ts';
import type { SpeedMeter } from './speedMeter.ts';

/**
 * How often the engine host pushes memory.stats while generating: at least twice a second.
 * HEADROOM_LIVE_STATS_MS=0 turns the live push off (the live-stats benchmark compares both).
 */
export const LIVE_STATS_INTERVAL_MS = Number(process.env.HEADROOM_LIVE_STATS_MS ?? 400);

/** The KV cache of a loaded model: planned bytes per device, policy and head, and what llama.cpp allocated. */
export function kvStatsOf(loaded: LoadedModel, llama: Llama, tokensInContext: number): KvStats {
    const { shape, kv } = loaded;
    const compute = computeDevice(llama);
    const plan = kv.resolved?.plan ?? null;
    // what the context reports (our build); the stock binary reports nothing, and the measured log totals stand in
    const buffers: KvBuffer[] = kv.report?.buffers
        ?? (['gpu', 'cpu'] as const).filter((device) => loaded.measured.kv[device] > 0)
            .map((device) => ({ kind: 'stock', bufferType: device === 'cpu' ? 'host' : 'device', device, bytes: loaded.measured.kv[device], cells: shape.contextCells }));
    return {
        compression: kv.compression,
        mode: kv.resolved?.mode ?? 'off',
        budget: kv.resolved?.budget ?? 1,
        profile: kv.resolved?.profile ?? null,
        sinks: plan?.sinks ?? 0,
        window: plan?.window ?? shape.contextCells,
        fullPlacement: plan?.fullPlacement ?? compute,
        contextCells: shape.contextCells,
        streamingCells: plan == null ? 0 : streamingCells(shape, plan.sinks, plan.window),
        tokens: {
            context: tokensInContext,
            full: Math.min(tokensInContext, shape.contextCells),
            streaming: plan == null ? 0 : Math.min(tokensInContext, plan.sinks + plan.window),
        },
        policy: Array.from({ length: shape.layers }, (_, layer) => Array.from({ length: shape.kvHeads }, (_, head) => policyAt(shape, plan, layer, head))),
        planned: kvBytes(shape, plan, compute),
        allocated: { ...sumByDevice(buffers), buffers },
    };
}

/** The cache as the gauges and the head map draw it: the native cache's own account, or the stock cache's formula. */
function kvUsageOf(loaded: LoadedModel, llama: Llama, tokensInContext: number): KvUsage {
    const { resolved } = loaded.kv;
    if (resolved != null) return kvUsageFromStats(kvStatsOf(loaded, llama, tokensInContext), resolved.scores);
    // The stock cache's layers live with their weights.
    return kvUsageFromFormula(loaded.shape, null, { gpuLayers: Math.min(loaded.model.gpuLayers, loaded.shape.layers) });
}

export interface MemorySnapshotInput {
    llama: Llama | null;
    loaded: { model: LoadedModel; usedTokens: number; predicted: Prediction | null } | null;
    speed: SpeedMeter;
    generating: boolean;
}

export async function memoryStatsOf({ llama, loaded, speed, generating }: MemorySnapshotInput): Promise<MemoryStats> {
    let gpu: MemoryStats['gpu'] = { available: false, reason: 'No GPU: the model runs on the CPU.' };
    if (llama == null) {
        gpu = { available: false, reason: 'Load a model to see GPU memory.' };
    } else {
        const backend = backendOf(llama);
        if (backend !== 'cpu') {
            const vram = await llama.getVramState();
            gpu = { available: true, kind: backend, totalBytes: vram.total, usedBytes: vram.used };
        }
    }
    return {
        at: Date.now(),
        generating,
        gpu,
        processRamBytes: process.memoryUsage.rss(),
        kv: loaded == null || llama == null ? null : kvUsageOf(loaded.model, llama, loaded.usedTokens),
        context: loaded == null ? null : { usedTokens: loaded.usedTokens, capacityTokens: loaded.model.context.contextSize },
        tokensPerSecond: speed.perSecond,
        generatedTokens: speed.tokens,
        loaded: loaded == null ? null : { actual: loaded.model.measured, predicted: loaded.predicted },
    };
}
