// `npm run plan -- --model <gguf> [--context <n>] [--kv off|auto|0.25|budget:0.25] [--offload gpu|cpu|auto] [--load]`
// Prints ONE JSON object: the prediction, and with --load what llama.cpp actually allocated
// for the same settings (read from its own log, not from the formula). Without --context it
// plans the automatic context, as the app chooses it: the longest that fits here, up to what
// the model was trained for.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { errorMessage } from '../common/errors.ts';
import { describeIssues, plainIssue } from '../common/issues.ts';
import { GpuLayers } from '../common/loadOptions.ts';
import { automaticContextOf, LoadParams, planRequestOf, type ContextChoice } from '../common/loadParams.ts';
import { CONTEXT_OPTION, HELP_OPTION, helpText, KV_OPTION, KV_TYPE_OPTION, MODEL_VALUE, usageLine, type CliSpec } from '../common/cliHelp.ts';
import { parseKvFlag, parseKvTypeFlag } from '../common/kv/flag.ts';
import { Engine } from '../engine/engine.ts';
import { isRemoteModelSource } from '../common/models.ts';
import { checked, contextOption, refuse } from './args.ts';
import { resolveModelOption, savedModelsFolder } from './modelSource.ts';

const TOOL = 'headroom plan';
const SPEC = {
    command: 'npm run plan',
    summary: 'Plans a model\'s memory on this machine and prints one JSON object: the KV cache, weights and compute buffers by device, whether it fits, and with --load what llama.cpp actually allocated.',
    options: {
        model: { type: 'string', value: MODEL_VALUE, help: 'the model; a URI or URL is downloaded into the models folder first', required: true },
        context: { ...CONTEXT_OPTION, defaultText: 'the longest that fits here, up to what the model was trained for' },
        kv: KV_OPTION,
        offload: { type: 'string', default: 'auto', value: 'gpu|cpu|auto', help: 'where the full heads\' cache lives' },
        'gpu-layers': { type: 'string', default: 'auto', value: 'auto|<n>', help: 'how many layers run on the GPU' },
        'kv-type': KV_TYPE_OPTION,
        load: { type: 'boolean', default: false, help: 'load the model too, and add what llama.cpp allocated' },
        help: HELP_OPTION,
    },
} as const satisfies CliSpec;

const values = checked(TOOL, () => parseArgs({ options: SPEC.options, strict: true }).values, usageLine(SPEC));

if (values.help === true) {
    process.stdout.write(helpText(SPEC));
    process.exit(0);
}
const options = checked(TOOL, () => {
    if (values.model == null) throw new Error('--model <path.gguf> is required.');
    if (!isRemoteModelSource(values.model) && !existsSync(values.model)) throw new Error(`no model file at ${path.resolve(values.model)}.`);
    const contextSize = contextOption(values.context);
    const gpuLayers = GpuLayers.safeParse(values['gpu-layers'] === 'auto' ? 'auto' : Number(values['gpu-layers']));
    if (!gpuLayers.success) throw new Error(`--gpu-layers must be auto or a whole number, not "${values['gpu-layers']}".`);
    const kv = parseKvFlag(values.kv, values.offload);
    // The load's own schema and rules (the settings panel's): checked with a stand-in path, before any download.
    const load = LoadParams.safeParse({
        path: values.model, ...(contextSize != null ? { contextSize } : {}), kv, gpuLayers: gpuLayers.data, kvCacheType: parseKvTypeFlag(values['kv-type']),
    }, { error: plainIssue });
    if (!load.success) throw new Error(describeIssues(load.error).message);
    return { model: values.model, load: load.data };
});

// The engine the app runs, in this process: the same planner, the same load path, and
// llama.cpp's own account of what it allocated.
let modelPath: string;
try {
    modelPath = await resolveModelOption(options.model, savedModelsFolder());
} catch (error) {
    process.stderr.write(`${TOOL}: ${errorMessage(error)}\n`);
    process.exit(1);
}
const engine = new Engine({ loadProgress: () => {}, chunk: () => {}, prefill: () => {}, memoryStats: () => {} });
try {
    const load = { ...options.load, path: modelPath };
    let context: ContextChoice;
    if (load.contextSize != null) {
        context = { source: 'given', tokens: load.contextSize, summary: `${load.contextSize.toLocaleString('en-US')} tokens, as asked.` };
    } else {
        // The app's automatic context: the planner's Fit, from any size it can plan.
        const fit = await engine.fit(planRequestOf(load, 256), 'context');
        context = automaticContextOf(fit, fit.plan?.model.trainContextSize ?? (await engine.plan(planRequestOf(load, 256))).model.trainContextSize);
    }
    const request = planRequestOf(load, context.tokens);
    const plan = await engine.plan(request);
    const output: Record<string, unknown> = {
        model: plan.model, contextSize: context.tokens, context, contextCells: plan.contextCells, gpuLayers: plan.gpuLayers,
        budget: plan.budget, kvCacheType: plan.kvCacheType, predicted: plan.predicted, machine: plan.machine, notes: plan.notes,
    };
    if (values.load) {
        const info = await engine.load(LoadParams.parse({ ...load, contextSize: context.tokens, gpuLayers: plan.gpuLayers, kvCacheType: plan.kvCacheType }));
        const { loaded } = await engine.memoryStats();
        if (loaded != null) {
            // llama.cpp's own KV buffer lines (the head-level cache's two caches log theirs too).
            const measured = loaded.actual;
            output.actual = {
                contextSize: info.contextSize, kvCompression: info.kv, kvBytes: measured.kv,
                weightsBytes: measured.weights.gpu + measured.weights.cpu, weights: measured.weights, computeBytes: measured.compute,
            };
        }
    }
    process.stdout.write(`${JSON.stringify(output)}\n`);
} catch (error) {
    refuse(TOOL, errorMessage(error));
} finally {
    await engine.unload();
}
