// The attention probe as the profiler uses it (native/README.md, "Attention probe"): a context
// with every head full that sums, per layer and query head, the attention that queries from
// q0 on put on the keys at [p0, p1). The sums are read from the context once the prompt is
// evaluated (llama_kv_headwise_probe_sums), before it is disposed.
import type { LlamaContextOptions, LlamaContextSequence, LlamaModel } from 'node-llama-cpp';
import { HeadroomError } from '../../common/errors.ts';
import { isWindowLayer, type KvShape } from '../../common/modelShape.ts';
import { planWithFullHeads } from '../../common/kv/policy.ts';
import { computeDevice, runtime } from '../runtime.ts';
import { createKvContext } from './context.ts';
import { probeSums, type AttentionProbe } from './native.ts';

export interface ProbeLayer {
    layer: number;
    /** Queries counted (positions >= q0 evaluated). */
    queries: number;
    /** Per query head: attention summed over the counted queries and the probed keys. */
    mass: number[];
}

/**
 * Runs `evaluate` in a probed context and returns each attention layer's sums (a model's own
 * window layers have no full heads to probe and report none).
 */
export async function probeAttention(
    model: LlamaModel, shape: Pick<KvShape, 'layers' | 'kvHeads' | 'windowLayers'>, probe: AttentionProbe,
    options: LlamaContextOptions, evaluate: (sequence: LlamaContextSequence) => Promise<void>,
): Promise<ProbeLayer[]> {
    const every = Array.from({ length: shape.layers * shape.kvHeads }, (_, i) => ({ layer: Math.floor(i / shape.kvHeads), head: i % shape.kvHeads }));
    const everyHeadFull = planWithFullHeads(shape, every, { sinks: 0, window: 1, fullPlacement: computeDevice((await runtime.get()).llama) });
    const { context, report } = await createKvContext(model, everyHeadFull, options, probe);
    try {
        if (report?.headwise !== true) {
            throw new HeadroomError('NOT_AVAILABLE', `llama.cpp has no head-level cache for this model${report?.reason != null ? ` (${report.reason})` : ''}, so its heads cannot be profiled.`);
        }
        await evaluate(context.getSequence());
        const layers: ProbeLayer[] = [];
        for (let layer = 0; layer < shape.layers; layer++) {
            if (isWindowLayer(shape, layer)) continue;
            const sums = probeSums(context, layer);
            if (sums == null) throw new HeadroomError('NOT_AVAILABLE', `llama.cpp did not report the attention probe of layer ${layer}.`);
            layers.push({ layer, ...sums });
        }
        return layers;
    } finally {
        await context.dispose();
    }
}
