// The bridge between a HeadPlan and our patched llama.cpp (native/): which binary to load,
// the policy file the native cache reads at context creation, and the log lines it answers
// with. node-llama-cpp cannot pass new context params, hence a file named by an env var.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { HeadPlan, HeadPolicy } from '../../common/kv/policy.ts';
import { ENGINE_CHOICE_ENV } from '../../common/loadOptions.ts';
import type { KvBuffer } from '../../common/kv/usage.ts';
import { parseBufferLine, type BufferLine } from '../llamaLog.ts';

/** Read by the patched llama.cpp when a context is created: path of the policy file. */
export const POLICY_ENV = 'LLAMA_KV_HEADWISE';

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

const POLICY_LETTER: Record<HeadPolicy, string> = { full: 'F', streaming: 'S', window: 'W' };

/** The policy file format the native side parses (see native/patches, LLAMA_KV_HEADWISE). */
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

/** Writes the plan where the native cache will read it; returns the path for POLICY_ENV. */
export async function writePolicyFile(plan: HeadPlan, dir?: string): Promise<string> {
    const folder = dir ?? await mkdtemp(path.join(os.tmpdir(), 'headroom-kv-'));
    const file = path.join(folder, 'policy.txt');
    await writeFile(file, formatPolicyFile(plan));
    return file;
}

const BUFFER_LINE = /llama_kv_cache_headwise: buffer kind=(full|streaming|window) buft=(\S+) host=([01]) bytes=(\d+) cells=(\d+)/;
const UNAVAILABLE_LINE = /llama_kv_cache_headwise: unavailable for architecture (\S+)(?: \(([^)]*)\))?/;

export function parseKvBufferLine(line: string): KvBuffer | null {
    const match = BUFFER_LINE.exec(line);
    if (match == null) return null;
    const [, kind, bufferType = '', host, bytes, cells] = match;
    return {
        kind: kind === 'full' || kind === 'window' ? kind : 'streaming',
        bufferType,
        // host memory is CPU RAM even when a GPU backend owns the (pinned) buffer
        device: host === '1' ? 'cpu' : 'gpu',
        bytes: Number(bytes),
        cells: Number(cells),
    };
}

/** The architecture, and why, when the native cache refused a model (its graph has no standard attention). */
export function parseUnavailableLine(line: string): { architecture: string; reason: string | null } | null {
    const match = UNAVAILABLE_LINE.exec(line);
    return match?.[1] == null ? null : { architecture: match[1], reason: match[2] ?? null };
}

const PROBE_LINE = /llama_kv_cache_headwise: probe layer=(\d+) queries=(\d+) mass=([-\d.e+,naif]+)/;

/** One layer's attention-probe sums, logged when a probed context is freed (see native/patches: the attention probe). */
export function parseProbeLine(line: string): { layer: number; queries: number; mass: number[] } | null {
    const match = PROBE_LINE.exec(line);
    if (match?.[3] == null) return null;
    return { layer: Number(match[1]), queries: Number(match[2]), mass: match[3].split(',').map(Number) };
}

/** Collects what llama.cpp logs about KV buffers while a context is created. */
export class KvLogCollector {
    buffers: KvBuffer[] = [];
    /** The stock cache's "KV buffer size" lines (MiB with 2 decimals: bytes to within 0.005 MiB). */
    stockBuffers: Omit<BufferLine, 'kind'>[] = [];
    unavailableFor: string | null = null;
    /** Why the native cache refused the model's architecture, in its words (e.g. "learned attention sinks"). */
    unavailableBecause: string | null = null;
    /** The attention probe's sums per layer (query heads' attention on the probed positions), when one ran. */
    probe: { layer: number; queries: number; mass: number[] }[] = [];

    /** Feed every log line; returns whether the line was about the KV cache. */
    take(line: string): boolean {
        const buffer = parseKvBufferLine(line);
        if (buffer != null) {
            this.buffers.push(buffer);
            return true;
        }
        const stock = parseBufferLine(line);
        if (stock?.kind === 'kv') {
            this.stockBuffers.push({ bufferType: stock.bufferType, device: stock.device, bytes: stock.bytes });
            return true;
        }
        const unavailable = parseUnavailableLine(line);
        if (unavailable != null) {
            this.unavailableFor = unavailable.architecture;
            this.unavailableBecause = unavailable.reason;
            return true;
        }
        const probe = parseProbeLine(line);
        if (probe != null) {
            this.probe.push(probe);
            return true;
        }
        return false;
    }
}
