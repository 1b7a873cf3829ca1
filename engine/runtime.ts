// node-llama-cpp with our llama.cpp build, once per process: the engine, the profiler and the
// benchmarks all load through it. It owns llama.cpp's log (weights' buffers, and the error lines
// that say why a call failed), and runs the work that must not overlap one at a time.
import os from 'node:os';
import type { Llama, LlamaLogLevel } from 'node-llama-cpp';
import type { EngineBuild, GpuBackend } from '../common/contract.ts';
import type { Device } from '../common/devices.ts';
import { howToGetTheBuild, PACKAGED_ENV } from '../common/errors.ts';
import type { EngineChoice } from '../common/loadOptions.ts';
import { gpuDevicePresent } from './gpuDevices.ts';
import { buildChoice, buildSupportsHeadwise, cmakeOptionsFor, readBuildFailure, type BuildFailure } from './kv/native.ts';

export type NodeLlamaCpp = typeof import('node-llama-cpp');

export interface Runtime {
    lib: NodeLlamaCpp;
    llama: Llama;
    build: EngineBuild;
}

/** The llama.cpp backend a Llama computes on: its GPU backend when that found a device, else the CPU. */
const backends = new WeakMap<Llama, GpuBackend | 'cpu'>();

/** A log line's severity as the listeners see it: errors are what a failed call says about its cause. */
export type LogSeverity = 'error' | 'other';
type LogListener = (line: string, severity: LogSeverity) => void;

class LlamaRuntime {
    #ready: Promise<Runtime> | null = null;
    #llama: Llama | null = null;
    #listeners = new Set<LogListener>();
    #work: Promise<unknown> = Promise.resolve();

    /**
     * One Llama for the process, also when a load and a plan ask for it at once. A second
     * instance re-registers the addon's log callback, and the released first one, when it is
     * finalized, marks the process as having none: from then on llama.cpp's log goes to stdout.
     */
    get(): Promise<Runtime> {
        this.#ready ??= this.#create().catch((error: unknown) => {
            this.#ready = null;
            throw error;
        });
        return this.#ready;
    }

    /** The Llama once it is loaded: memory snapshots read it without waiting for one. */
    get llama(): Llama | null {
        return this.#llama;
    }

    async #create(): Promise<Runtime> {
        // Imported lazily so a host answers its parent before the native addon loads.
        const lib = await import('node-llama-cpp');
        const { LlamaLogLevel } = lib;
        const options = {
            gpu: process.env.HEADROOM_GPU === 'false' ? false as const : 'auto' as const,
            // never built here: `npm run build:native` builds ours, node-llama-cpp ships the stock one
            build: 'never' as const,
            // Info level: llama.cpp reports its buffers (KV, weights, compute) there; only errors
            // go to stderr, where the supervisor looks for out-of-memory messages.
            logLevel: LlamaLogLevel.info,
            logger: (level: LlamaLogLevel, message: string) => {
                const severity: LogSeverity = level === LlamaLogLevel.error || level === LlamaLogLevel.fatal ? 'error' : 'other';
                for (const line of message.split('\n')) for (const listener of this.#listeners) listener(line, severity);
                if (severity === 'error') {
                    process.stderr.write(message.endsWith('\n') ? message : `${message}\n`);
                }
            },
        };
        // Our patched build, for the best GPU backend it was built for (else its CPU build); never a
        // stock prebuilt in its place. The stock binary only when ours is missing or not wanted.
        let llama: Llama | null = null;
        if (buildChoice() === 'headwise') {
            llama = await lib.getLlama({ ...options, cmakeOptions: cmakeOptionsFor('headwise'), usePrebuiltBinaries: false })
                .catch((error: unknown) => {
                    if (error instanceof lib.NoBinaryFoundError) return null;
                    throw error;
                });
        }
        llama ??= await lib.getLlama(options);
        const backend = llama.gpu !== false && (await llama.getGpuDeviceNames()).length > 0 ? llama.gpu : 'cpu';
        backends.set(llama, backend);
        const gpuRuntimes = options.gpu === false ? [] : (await lib.getLlamaGpuTypes('supported')).filter((gpu): gpu is GpuBackend => gpu !== false);
        this.#llama = llama;
        const requested = buildChoice() === 'stock' ? 'stock' : 'compressed';
        return { lib, llama, build: engineBuildOf({ headwise: buildSupportsHeadwise(llama.systemInfo), requested, backend, gpuRuntimes, buildFailure: readBuildFailure() }) };
    }

    /** Hands every llama.cpp log line to `listener` until the returned function is called. */
    listen(listener: LogListener): () => void {
        this.#listeners.add(listener);
        return () => this.#listeners.delete(listener);
    }

    /**
     * Runs llama.cpp work that must not overlap another's. node-llama-cpp's memory estimates
     * (plan, fit) quiet llama.cpp's log for the whole process while they simulate a load, and a
     * real load reads its weights' buffers and any error's cause from that log.
     */
    exclusive<T>(work: () => Promise<T>): Promise<T> {
        const run = this.#work.then(work, work);
        this.#work = run.catch(() => undefined);
        return run;
    }
}

export const runtime = new LlamaRuntime();

/** The backend llama.cpp computes on: a GPU backend with a device, or the CPU (also a GPU build that found no device). */
export function backendOf(llama: Llama): GpuBackend | 'cpu' {
    return backends.get(llama) ?? (llama.gpu === false ? 'cpu' : llama.gpu);
}

/** Where llama.cpp computes: on a GPU, or on the CPU. */
export function computeDevice(llama: Llama): Device {
    return backendOf(llama) === 'cpu' ? 'cpu' : 'gpu';
}

/** What a run measured on, in words ("cpu: AMD EPYC, 1 thread (2 cores)", "gpu: NVIDIA …"): results and charts name it. */
export function deviceName(compute: Device, gpuName: string | null, threads: number): string {
    const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
    return compute === 'cpu'
        ? `cpu: ${cpu}, ${threads} thread${threads === 1 ? '' : 's'} (${os.cpus().length} cores)`
        : `gpu: ${gpuName ?? 'unknown GPU'} (host ${cpu})`;
}

/** deviceName() without the thread count or the host, for a chart's title: "cpu: AMD EPYC", "gpu: llvmpipe (LLVM 15.0.6, 256 bits)". */
export function deviceTitle(device: string): string {
    return device.replace(/, \d+ threads? \(.*$/, '').replace(/ \(host [^)]*\)$/, '');
}

/** Whether this process runs for an installed app (the backend says so), which cannot build llama.cpp. */
export const isPackagedApp = () => process.env[PACKAGED_ENV] === '1';

/**
 * Which build the engine runs and, when it is not the best this machine allows, what to do about it.
 * `gpuDevices`: the runtimes whose GPU is really here, best first (by default, looked up).
 * `packaged`: an installed app (by default, as the backend said), whose user has no `npm run build:native`.
 */
export function engineBuildOf(build: {
    headwise: boolean; requested: EngineChoice; backend: GpuBackend | 'cpu'; gpuRuntimes: readonly GpuBackend[]; gpuDevices?: readonly GpuBackend[];
    /** Why the last build of Headroom's engine failed, when it did (a source checkout records it). */
    buildFailure?: BuildFailure | null;
    packaged?: boolean;
}): EngineBuild {
    const { headwise, requested, backend, gpuRuntimes } = build;
    const packaged = build.packaged ?? isPackagedApp();
    const gpuName = (gpu: GpuBackend) => ({ cuda: 'CUDA', vulkan: 'Vulkan', metal: 'Metal' })[gpu];
    let note: string | null = null;
    const gpu = (build.gpuDevices ?? gpuRuntimes.filter(gpuDevicePresent))[0];
    if (headwise && backend === 'cpu' && gpu != null) {
        note = `Compression runs on the CPU: Headroom's engine was built for the CPU only, and this machine has a ${gpuName(gpu)} GPU. `
            + (packaged
                ? 'This installation has no GPU build of it; you can use the GPU without compression (Settings → Engine: stock).'
                : 'Run `npm run build:native` to build it for the GPU, or use the GPU without compression (Settings → Engine: stock).');
    } else if (!headwise && requested === 'compressed' && build.buildFailure != null && !packaged) {
        const { patch, nodeLlamaCpp } = build.buildFailure;
        note = `Head-level KV compression is unavailable: building Headroom's engine failed (${patch != null ? `the patch ${patch} does not apply to node-llama-cpp ${nodeLlamaCpp}` : `node-llama-cpp ${nodeLlamaCpp}`}), so the stock llama.cpp runs. `
            + 'Run `npm run build:native` to see why.';
    } else if (!headwise && requested === 'compressed') {
        note = packaged
            ? `Head-level KV compression is unavailable: Headroom's engine is missing, so the stock llama.cpp runs; ${howToGetTheBuild(true)}.`
            : 'Head-level KV compression is unavailable: Headroom\'s engine is not built here (the stock llama.cpp runs). Run `npm run build:native` to build it.';
    }
    return { kind: headwise ? 'headwise' : 'stock', requested, backend, gpuRuntimes: [...gpuRuntimes], note };
}
