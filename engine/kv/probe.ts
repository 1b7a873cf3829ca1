// The attention probe as the profiler uses it (native/README.md, "Attention probe"): a context
// with every head full that sums, per layer and query head, the attention that queries from
// q0 on put on the keys at [p0, p1). llama.cpp logs the sums when the context is freed; they
// reach us through node-llama-cpp's logger a moment later.
import type { LlamaContextOptions, LlamaContextSequence, LlamaModel } from 'node-llama-cpp';
import { HeadroomError } from '../../common/errors.ts';
import { isWindowLayer, type KvShape } from '../../common/modelShape.ts';
import { planWithFullHeads } from '../../common/kv/policy.ts';
import { computeDevice, runtime } from '../runtime.ts';
import { createKvContext, waitFor } from './context.ts';
import { parseProbeLine, type AttentionProbe } from './native.ts';

// The probe's lines follow the context's disposal through the logger; seconds on a busy machine.
const PROBE_LOG_WAIT_MS = 15_000;

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
    const layers: ProbeLayer[] = [];
    const expected = Array.from({ length: shape.layers }, (_, layer) => layer).filter((layer) => !isWindowLayer(shape, layer)).length;
    const stopListening = runtime.listen((line) => {
        const parsed = parseProbeLine(line);
        if (parsed != null) layers.push(parsed);
    });
    try {
        const every = Array.from({ length: shape.layers * shape.kvHeads }, (_, i) => ({ layer: Math.floor(i / shape.kvHeads), head: i % shape.kvHeads }));
        const everyHeadFull = planWithFullHeads(shape, every, { sinks: 0, window: 1, fullPlacement: computeDevice((await runtime.get()).llama) });
        const { context, kvLog } = await createKvContext(model, everyHeadFull, options, probe);
        try {
            if (kvLog.unavailableFor != null) {
                throw new HeadroomError('NOT_AVAILABLE', `llama.cpp has no head-level cache for the ${kvLog.unavailableFor} architecture, so its heads cannot be profiled.`);
            }
            await evaluate(context.getSequence());
        } finally {
            await context.dispose();
        }
        await waitFor(() => layers.length >= expected, PROBE_LOG_WAIT_MS);
        if (layers.length < expected) {
            throw new HeadroomError('NOT_AVAILABLE', 'llama.cpp did not report the attention probe: this build of Headroom\'s engine is older than the profiler. Run `npm run build:native`.');
        }
        return layers.sort((a, b) => a.layer - b.layer);
    } finally {
        stopListening();
    }
}
