// How long profiling the loaded model would take here, said before it starts: the tokens the
// profiler would evaluate (profileWork) at the prompt speed measured on the chat engine's model,
// plus loading the model once more in the profiling host.
import type { Params, ProfileEstimate } from '../../common/contract.ts';
import { isWindowLayer } from '../../common/modelShape.ts';
import { createKvContext, defaultThreads } from '../kv/context.ts';
import type { LoadedModel } from '../load.ts';
import { runtime } from '../runtime.ts';
import { loadFiller } from './haystack.ts';
import { DEFAULTS, profileWork } from './headProfiler.ts';

const SAMPLE_TOKENS = 256;
// A probed pass adds an attention without flash attention, and validation prompts are long:
// the sample's speed is an upper bound, so the estimate leans long.
const OVERHEAD = 1.3;

/** Prompt tokens a second on a loaded model, from a short sample in a context of its own. */
export async function measurePromptSpeed(loaded: LoadedModel): Promise<number> {
    const { llama } = await runtime.get();
    const tokens = loaded.model.tokenize(loadFiller()).slice(0, SAMPLE_TOKENS);
    const { context } = await createKvContext(loaded.model, null, { contextSize: 2 * SAMPLE_TOKENS, batchSize: SAMPLE_TOKENS, threads: defaultThreads(llama, loaded.fileBytes) });
    try {
        const sequence = context.getSequence();
        const started = performance.now();
        await sequence.evaluateWithoutGeneratingNewTokens(tokens);
        return tokens.length / Math.max(1e-3, (performance.now() - started) / 1000);
    } finally {
        await context.dispose();
    }
}

export function estimateProfile(
    loaded: LoadedModel, params: Params<'kv.profileEstimate'>, measured: { tokensPerSecond: number; loadSeconds: number },
): ProfileEstimate {
    const { shape } = loaded;
    const heads = Array.from({ length: shape.layers }, (_, layer) => layer).filter((layer) => !isWindowLayer(shape, layer)).length * shape.kvHeads;
    const validationTokens = params.contextSize ?? loaded.context.contextSize;
    const work = profileWork({
        method: 'attention', prompts: params.prompts ?? DEFAULTS.prompts, promptTokens: params.tokens ?? DEFAULTS.tokens,
        validationPrompts: params.validationPrompts ?? DEFAULTS.validationPrompts, validationTokens, heads,
    });
    const tokens = work.scoring + work.validation;
    return {
        seconds: Math.round(measured.loadSeconds + (OVERHEAD * tokens) / measured.tokensPerSecond),
        tokens,
        tokensPerSecond: Math.round(measured.tokensPerSecond),
        validationTokens,
    };
}
