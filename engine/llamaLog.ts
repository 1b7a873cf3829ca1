// What llama.cpp itself says it allocated: it logs every buffer it creates ("CPU KV buffer
// size = 0.50 MiB", "CUDA0 compute buffer size = …"). The planner's "actual" numbers and
// `npm run plan -- --load` come from here, not from any formula.
import type { Device, DeviceBytes } from '../common/devices.ts';

export interface MeasuredBuffers {
    kv: DeviceBytes;
    weights: DeviceBytes;
    compute: DeviceBytes;
}

const BUFFER_LINE = /^\s*(?:[\w.]+:\s+)?(\S+)\s+(KV|model|compute)\s+buffer size\s*=\s*([\d.]+)\s*MiB/;
const MIB = 1024 * 1024;
const KINDS = { KV: 'kv', model: 'weights', compute: 'compute' } as const;

const zero = (): MeasuredBuffers => ({ kv: { gpu: 0, cpu: 0 }, weights: { gpu: 0, cpu: 0 }, compute: { gpu: 0, cpu: 0 } });

/** Host-memory buffer types (CPU, CPU_Mapped, CUDA_Host pinned RAM, CPU_REPACK…) are CPU RAM. */
export function deviceOfBufferType(bufferType: string): Device {
    return /^CPU|_Host$/i.test(bufferType) ? 'cpu' : 'gpu';
}

export interface BufferLine {
    kind: keyof MeasuredBuffers;
    /** ggml buffer type name: CPU, CPU_Mapped, CUDA0, CUDA_Host, Vulkan0, Metal… */
    bufferType: string;
    device: Device;
    bytes: number;
}

export function parseBufferLine(line: string): BufferLine | null {
    const match = BUFFER_LINE.exec(line);
    if (match == null) return null;
    const [, bufferType = '', kind = 'KV', mib = '0'] = match;
    return { kind: KINDS[kind as keyof typeof KINDS], bufferType, device: deviceOfBufferType(bufferType), bytes: Math.round(Number(mib) * MIB) };
}

/** Tallies buffer sizes from llama.cpp's log lines, by kind and device. */
export class BufferLog {
    #current = zero();
    #seen = new Set<keyof MeasuredBuffers>();

    /** Feed one log line; returns true when it was a buffer line. */
    observe(line: string): boolean {
        const parsed = parseBufferLine(line);
        if (parsed == null) return false;
        this.#current[parsed.kind][parsed.device] += parsed.bytes;
        this.#seen.add(parsed.kind);
        return true;
    }

    /**
     * Waits until a line of `kind` has come, at most `ms`; says whether it came. node-llama-cpp hands
     * llama.cpp's log over on the event loop, after the call that logged it has returned, and later
     * still on a busy machine: a caller that stops listening at once can miss its own buffers.
     * llama.cpp logs a context's KV buffers before its compute buffers, so 'compute' means both.
     */
    async arrived(kind: keyof MeasuredBuffers, ms: number): Promise<boolean> {
        const deadline = performance.now() + ms;
        while (!this.#seen.has(kind) && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
        return this.#seen.has(kind);
    }

    get measured(): MeasuredBuffers {
        return structuredClone(this.#current);
    }
}
