// The bridge between a HeadPlan and our patched llama.cpp (native/): which binary to load,
// the policy file the native cache reads at context creation, and the log lines it answers
// with. node-llama-cpp cannot pass new context params, hence a file named by an env var.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { HeadPlan } from '../../common/kv/policy.ts';
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
export const BUILD_ENV = 'HEADROOM_LLAMA_BUILD';

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

/** The policy file format the native side parses (see native/patches, LLAMA_KV_HEADWISE). */
export function formatPolicyFile(plan: HeadPlan): string {
    const lines = [
        '# Headroom head-level KV policy: F = full head, S = streaming head (sinks + window)',
        `sinks ${plan.sinks}`,
        `window ${plan.window}`,
        `full_placement ${plan.fullPlacement}`,
        ...plan.policy.map((row, layer) => `layer ${layer} ${row.map((p) => (p === 'full' ? 'F' : 'S')).join(' ')}`),
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

const BUFFER_LINE = /llama_kv_cache_headwise: buffer kind=(full|streaming) buft=(\S+) host=([01]) bytes=(\d+) cells=(\d+)/;
const UNAVAILABLE_LINE = /llama_kv_cache_headwise: unavailable for architecture (\S+)/;

export function parseKvBufferLine(line: string): KvBuffer | null {
    const match = BUFFER_LINE.exec(line);
    if (match == null) return null;
    const [, kind, bufferType = '', host, bytes, cells] = match;
    return {
        kind: kind === 'full' ? 'full' : 'streaming',
        bufferType,
        // host memory is CPU RAM even when a GPU backend owns the (pinned) buffer
        device: host === '1' ? 'cpu' : 'gpu',
        bytes: Number(bytes),
        cells: Number(cells),
    };
}

/** The architecture named when the native cache refused a model (its graph has no per-head split). */
export function parseUnavailableLine(line: string): string | null {
    return UNAVAILABLE_LINE.exec(line)?.[1] ?? null;
}

/** Collects what llama.cpp logs about KV buffers while a context is created. */
export class KvLogCollector {
    buffers: KvBuffer[] = [];
    /** The stock cache's "KV buffer size" lines (MiB with 2 decimals: bytes to within 0.005 MiB). */
    stockBuffers: Omit<BufferLine, 'kind'>[] = [];
    unavailableFor: string | null = null;

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
        const arch = parseUnavailableLine(line);
        if (arch != null) {
            this.unavailableFor = arch;
            return true;
        }
        return false;
    }
}
