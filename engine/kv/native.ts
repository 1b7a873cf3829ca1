// The bridge between a HeadPlan and our patched llama.cpp (native/): which binary to load, the
// per-head policy as node-llama-cpp's context option (native/node-llama-cpp), what the context
// reports back as data, and the policy file llama.cpp's own tools take (--kv-head-policy).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LlamaContext, LlamaContextKvHeadPolicy, LlamaContextKvHeadPolicyStats } from 'node-llama-cpp';
import type { HeadPlan, HeadPolicy } from '../../common/kv/policy.ts';
import { ENGINE_CHOICE_ENV } from '../../common/loadOptions.ts';
import type { KvBuffer } from '../../common/kv/usage.ts';
import type { DeviceBytes } from '../../common/devices.ts';

/**
 * The custom CMake option our local build is made with. node-llama-cpp names a local build's
 * folder after its custom options, so asking for this option finds our build and asking for
 * none finds the stock prebuilt binary, even when both are installed.
 */
export const BUILD_CMAKE_OPTION = 'HEADROOM_HEADWISE_KV';

/** Which llama.cpp binary the engine host loads: HEADROOM_LLAMA_BUILD=stock|headwise (default headwise). */
export const BUILD_ENV = ENGINE_CHOICE_ENV;

export type BuildChoice = 'stock' | 'headwise';

export function buildChoice(env: NodeJS.ProcessEnv = process.env): BuildChoice {
    return env[BUILD_ENV] === 'stock' ? 'stock' : 'headwise';
}

/** getLlama's cmakeOptions for a build choice. */
export function cmakeOptionsFor(choice: BuildChoice): Record<string, string> {
    return choice === 'headwise' ? { [BUILD_CMAKE_OPTION]: 'ON' } : {};
}

/** llama_print_system_info() of our build says so (node-llama-cpp exposes it as llama.systemInfo). */
export function buildSupportsHeadwise(systemInfo: string): boolean {
    return /\bHEADWISE_KV = 1\b/.test(systemInfo);
}

/** Why the last `npm install` or `npm run build:native` could not build our llama.cpp (native/apply.ts writes it). */
export interface BuildFailure {
    /** The patch that does not apply, or null when something else failed (a compiler error). */
    patch: string | null;
    nodeLlamaCpp: string;
    detail: string;
}

/** Where that failure is recorded, relative to the project root (a source checkout; an installed app has none). */
export const BUILD_FAILURE_FILE = path.join('native', '.work', 'build-failure.json');

/** The recorded build failure, if the last build of our llama.cpp failed. */
export function readBuildFailure(): BuildFailure | null {
    try {
        const file = fileURLToPath(new URL(`../../${BUILD_FAILURE_FILE.split(path.sep).join('/')}`, import.meta.url));
        return JSON.parse(readFileSync(file, 'utf8')) as BuildFailure;
    } catch {
        return null;
    }
}

/** llama_kv_head_policy (llama.h): what the native cache keeps of each (layer, KV head). */
const POLICY_CODE: Record<HeadPolicy, number> = { full: 0, streaming: 1, window: 2 };

/**
 * The attention probe (native/README.md): a context with every head full that sums, per layer and
 * query head, the attention that queries at positions >= q0 put on keys at positions [p0, p1).
 */
export interface AttentionProbe {
    p0: number;
    p1: number;
    q0: number;
}

/** A plan as node-llama-cpp's context option (native/node-llama-cpp/0001). */
export function contextPolicyOf(plan: HeadPlan, probe?: AttentionProbe): LlamaContextKvHeadPolicy {
    return {
        heads: Uint8Array.from(plan.policy.flat().map((p) => POLICY_CODE[p])),
        sinks: plan.sinks,
        window: plan.window,
        fullOffload: plan.fullPlacement === 'gpu',
        ...(probe != null ? { probe: { keysStart: probe.p0, keysEnd: probe.p1, queriesStart: probe.q0 } } : {}),
    };
}

/** What a context's KV cache is, as llama.cpp reports it (no log lines, no waiting). */
export interface ContextKvReport {
    /** The per-head cache is active. */
    headwise: boolean;
    /** Why not, in llama.cpp's words ("learned attention sinks"), when a plan was given and it is not. */
    reason: string | null;
    /** The per-head cache's buffers; the stock cache's as one buffer per device. */
    buffers: KvBuffer[];
    /** The context's KV memory and compute buffers, per device (host memory is the CPU's). */
    kv: DeviceBytes;
    compute: DeviceBytes;
}

/** Reads what a context's KV cache is; null when the binary has no per-head cache (the stock build). */
export function contextKvReport(context: LlamaContext): ContextKvReport | null {
    const stats: LlamaContextKvHeadPolicyStats | null = context.getKvHeadPolicyStats();
    if (stats == null) return null;
    const kv = { gpu: stats.kvMemory.device, cpu: stats.kvMemory.host };
    const buffers: KvBuffer[] = stats.active
        ? stats.buffers.map((b) => ({ kind: b.kind, bufferType: b.bufferType, device: b.host ? 'cpu' : 'gpu', bytes: b.bytes, cells: b.cells }))
        : (['gpu', 'cpu'] as const).filter((device) => kv[device] > 0)
            .map((device) => ({ kind: 'stock', bufferType: device === 'cpu' ? 'host' : 'device', device, bytes: kv[device], cells: context.getAllocatedContextSize() }));
    return { headwise: stats.active, reason: stats.reason, buffers, kv, compute: { gpu: stats.computeMemory.device, cpu: stats.computeMemory.host } };
}

/** The attention probe's sums of a layer: per query head, and the queries counted. */
export function probeSums(context: LlamaContext, layer: number): { queries: number; mass: number[] } | null {
    const sums = context.getKvHeadPolicyProbeSums(layer);
    return sums == null ? null : { queries: sums.queries, mass: [...sums.sums] };
}

const POLICY_LETTER: Record<HeadPolicy, string> = { full: 'F', streaming: 'S', window: 'W' };

/** A plan as the policy file llama.cpp's tools take (`--kv-head-policy FILE`, common/kv-head-policy.h). */
export function formatPolicyFile(plan: HeadPlan): string {
    const lines = [
        '# Headroom head-level KV policy: F = full head, S = streaming head (sinks + window), W = the model\'s window layer',
        `sinks ${plan.sinks}`,
        `window ${plan.window}`,
        `full_placement ${plan.fullPlacement}`,
        ...plan.policy.map((row, layer) => `layer ${layer} ${row.map((p) => POLICY_LETTER[p]).join(' ')}`),
    ];
    return lines.join('\n') + '\n';
}
