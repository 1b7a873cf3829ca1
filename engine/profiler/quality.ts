// How well a model retrieves with a given KV plan: every prompt of a set teacher-forced in one
// context with that plan (or the full cache), scored on the needle's digits.
import { KV_OFF, KvOptions, type HeadPlan } from '../../common/kv/policy.ts';
import { createModelContext, requireCompression, type OpenedModel } from '../load.ts';
import type { PromptSet } from './promptSets.ts';
import { promptTokensOf, scoreAnswer } from './prompting.ts';

export interface Quality {
    /** Mean over prompts of the summed log-probability of the needle's digits. */
    logProb: number;
    /** Share of prompts whose digits are all the greedy choice. */
    accuracy: number;
}

export interface MeasureOptions {
    threads?: number;
    /** After each prompt: the tokens it evaluated. */
    onPrompt?: (tokens: number) => void;
}

/** Quality with `plan` (null: the full cache), in a context of its own on the opened model. */
export async function measureQuality(opened: OpenedModel, set: PromptSet, plan: HeadPlan | null, options: MeasureOptions = {}): Promise<Quality> {
    const kv = plan == null ? KV_OFF : KvOptions.parse({ mode: 'budget', budget: 1, sinks: plan.sinks, window: plan.window });
    const created = await createModelContext(opened, {
        contextSize: set.contextTokens, kv, profile: null, ...(plan != null ? { plan } : {}), ...(options.threads != null ? { threads: options.threads } : {}),
    });
    const context = plan == null ? created : await requireCompression(created);
    try {
        const sequence = context.context.getSequence();
        let logProb = 0;
        let correct = 0;
        for (const prompt of set.prompts) {
            const score = await scoreAnswer(sequence, prompt);
            logProb += score.logProb;
            if (score.correct) correct++;
            options.onPrompt?.(promptTokensOf(prompt).length);
        }
        return { logProb: logProb / set.prompts.length, accuracy: correct / set.prompts.length };
    } finally {
        await context.dispose();
    }
}
