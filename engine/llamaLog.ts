// What llama.cpp itself says it allocated: it logs every buffer it creates ("CPU KV buffer
// size = 0.50 MiB", "CUDA0 compute buffer size = …"). The planner's "actual" numbers and
// `npm run plan -- --load` come from here, not from any formula.
export interface DeviceBytes {
    gpu: number;
    cpu: number;
}

export interface MeasuredBuffers {
    kv: DeviceBytes;
    weights: DeviceBytes;
    compute: DeviceBytes;
}

const BUFFER_LINE = /^\s*(?:[\w.]+:\s+)?(\S+)\s+(KV|model|compute)\s+buffer size\s*=\s*([\d.]+)\s*MiB/;
const MIB = 1024 * 1024;

const zero = (): MeasuredBuffers => ({ kv: { gpu: 0, cpu: 0 }, weights: { gpu: 0, cpu: 0 }, compute: { gpu: 0, cpu: 0 } });

/** Host-memory devices: CPU, CPU_Mapped, CUDA_Host (pinned RAM), CPU_REPACK… */
function deviceKind(device: string): 'gpu' | 'cpu' {
    return /^CPU|_Host$/i.test(device) ? 'cpu' : 'gpu';
}

export interface BufferLine {
    kind: keyof MeasuredBuffers;
    /** ggml buffer type name: CPU, CPU_Mapped, CUDA0, CUDA_Host, Vulkan0, Metal… */
    bufferType: string;
    device: 'gpu' | 'cpu';
    bytes: number;
}

export function parseBufferLine(line: string): BufferLine | null {
    const match = BUFFER_LINE.exec(line);
    if (match == null) return null;
    const kind = match[2] === 'KV' ? 'kv' : match[2] === 'model' ? 'weights' : 'compute';
    return { kind, bufferType: match[1], device: deviceKind(match[1]), bytes: Math.round(Number(match[3]) * MIB) };
}

/** Collects buffer sizes from llama.cpp's log; `mark()` starts a fresh tally for the next allocation. */
export class BufferLog {
    #current = zero();

    /** Feed one log line; returns true when it was a buffer line. */
    observe(line: string): boolean {
        const parsed = parseBufferLine(line);
        if (parsed == null) return false;
        this.#current[parsed.kind][parsed.device] += parsed.bytes;
        return true;
    }

    /** Forget the tally of one kind, e.g. before creating a new context. */
    reset(kind?: keyof MeasuredBuffers): void {
        if (kind == null) this.#current = zero();
        else this.#current[kind] = { gpu: 0, cpu: 0 };
    }

    get measured(): MeasuredBuffers {
        return structuredClone(this.#current);
    }
}
