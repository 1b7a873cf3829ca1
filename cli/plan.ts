// `npm run plan -- --model <gguf> --context <n> [--kv off|auto|<budget>] [--offload gpu|cpu|auto] [--load]`
// Prints ONE JSON object: the prediction, and with --load what llama.cpp actually allocated
// for the same settings (read from its own log, not from the formula).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Engine } from '../engine/engine.ts';
import { parseKvFlag } from '../common/kv/flag.ts';
import type { PlanInput } from '../common/plan.ts';

function fail(message: string): never {
    process.stderr.write(`headroom plan: ${message}\n`);
    process.exit(2);
}

const OPTIONS = {
    model: { type: 'string' },
    context: { type: 'string' },
    kv: { type: 'string', default: 'off' },
    offload: { type: 'string', default: 'auto' },
    'gpu-layers': { type: 'string', default: 'auto' },
    'kv-type': { type: 'string', default: 'f16' },
    load: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
} as const;

function parse() {
    try {
        return parseArgs({ options: OPTIONS, strict: true });
    } catch (error) {
        return fail((error as Error).message.split('\n')[0]);
    }
}
const { values } = parse();

if (values.help) {
    process.stdout.write('Usage: npm run plan -- --model <gguf> --context <n> [--kv off|auto|<budget 0-1>] [--offload gpu|cpu|auto] [--gpu-layers auto|<n>] [--kv-type f16|q8_0] [--load]\n');
    process.exit(0);
}
if (values.model == null) fail('--model <path.gguf> is required.');
const modelPath = path.resolve(values.model);
if (!existsSync(modelPath)) fail(`no model file at ${modelPath}.`);
const contextSize = Number(values.context);
if (!Number.isInteger(contextSize) || contextSize < 64) fail(`--context must be a whole number of tokens (64 or more), not "${values.context}".`);
const flag = parseKvFlag(values.kv, values.offload);
if ('error' in flag) fail(flag.error);
const kv = flag.kv;
const gpuLayers = values['gpu-layers'] === 'auto' ? 'auto' : Number(values['gpu-layers']);
if (gpuLayers !== 'auto' && !(Number.isInteger(gpuLayers) && gpuLayers >= 0)) fail(`--gpu-layers must be auto or a whole number, not "${values['gpu-layers']}".`);
if (values['kv-type'] !== 'f16' && values['kv-type'] !== 'q8_0') fail(`--kv-type must be f16 or q8_0, not "${values['kv-type']}".`);

// The engine the app runs, in this process: the same planner, the same load path, and
// llama.cpp's own account of what it allocated.
const engine = new Engine({ loadProgress: () => {}, chunk: () => {}, prefill: () => {}, memoryStats: () => {} });
try {
    const request: PlanInput = { path: modelPath, contextSize, kv: kv ?? { mode: 'off' }, gpuLayers, kvCacheType: values['kv-type'] };
    const plan = await engine.plan(request);
    const output: Record<string, unknown> = { model: plan.model, contextSize, contextCells: plan.contextCells, gpuLayers: plan.gpuLayers, budget: plan.budget, kvCacheType: plan.kvCacheType, predicted: plan.predicted, machine: plan.machine, notes: plan.notes };
    if (values.load) {
        const info = await engine.load({
            path: modelPath, contextSize, gpuLayers: plan.gpuLayers, kvCacheType: plan.kvCacheType,
            kv,
        });
        const stats = await engine.memoryStats();
        const measured = stats.loaded!.actual;
        // llama.cpp's own KV buffer lines (the head-level cache's two caches log theirs too).
        output.actual = {
            contextSize: info.contextSize, kvCompression: info.kv, kvBytes: measured.kv,
            weightsBytes: measured.weights.gpu + measured.weights.cpu, weights: measured.weights, computeBytes: measured.compute,
        };
    }
    process.stdout.write(`${JSON.stringify(output)}\n`);
} catch (error) {
    fail((error as Error).message);
} finally {
    await engine.unload();
}
