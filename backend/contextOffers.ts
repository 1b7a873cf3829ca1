// What would let a document fit when the loaded context cannot hold it, decided with the planner:
// a reload with a larger context where one fits this machine; where none does with these
// settings, the change that would make one fit (a smaller budget, a q8_0 cache, full heads in
// CPU RAM); else a smaller model. Each reload is an action the window offers in one click.
import type { ErrorAction } from '../common/errors.ts';
import { MAX_CONTEXT_TOKENS } from '../common/loadOptions.ts';
import { planRequestOf, type LoadParams } from '../common/loadParams.ts';
import { contextCellsFor } from '../common/modelShape.ts';
import { KvOptions } from '../common/kv/policy.ts';
import type { MemoryPlan } from '../common/plan.ts';
import type { LoadOverrides } from '../common/settings.ts';
import type { EngineSupervisor } from './host/supervisor.ts';

/** What would help, in words, and the reloads that would, each a click away. */
export interface ContextOffers {
    advice: string;
    actions: ErrorAction[];
}

const fmt = (n: number) => n.toLocaleString('en-US');

/** "64K", "1.5K" for whole multiples of 512 tokens, else the number. */
export function tokensShort(tokens: number): string {
    return tokens % 512 === 0 ? `${tokens / 1024}K` : fmt(tokens);
}

function bytesShort(bytes: number): string {
    return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${Math.max(1, Math.round(bytes / 2 ** 20))} MiB`;
}

/**
 * The context to offer for `needed` tokens: the next of 1K, 1.5K, 2K, 3K, 4K, 6K, 8K… that leaves an
 * eighth more for the conversation, at most `longest` (what the model was trained for, within what
 * Headroom loads; 0: no limit).
 */
export function offeredContext(needed: number, longest: number): number {
    const wanted = Math.ceil(needed * 1.125);
    let size = 1024;
    for (let step = 0; size < wanted; step++) size = step % 2 === 0 ? size * 1.5 : (size / 3) * 4;
    return longest > 0 && size > longest ? Math.max(longest, contextCellsFor(needed)) : size;
}

/** The reloads (and the words) that would make room for `needed` tokens; null when no model is loaded. */
export async function contextOffers(supervisor: EngineSupervisor, needed: number): Promise<ContextOffers | null> {
    const { model, load } = supervisor.state;
    if (model == null || load == null) return null;
    const trained = model.trainContextSize;
    if (trained > 0 && needed > trained) {
        return { actions: [], advice: `${model.name} was trained for ${fmt(trained)} tokens, fewer than this needs: a model trained for a longer context would read it whole (Models… lists them).` };
    }
    if (needed > MAX_CONTEXT_TOKENS) {
        return { actions: [], advice: `One context holds at most ${fmt(MAX_CONTEXT_TOKENS)} tokens in Headroom, fewer than this needs: add the document in parts, each to its own chat.` };
    }
    // the longest context to offer: what the model was trained for, within what Headroom loads
    const longest = Math.min(trained > 0 ? trained : MAX_CONTEXT_TOKENS, MAX_CONTEXT_TOKENS);
    const base = load.params;
    const plan = (params: LoadParams, contextSize: number) => supervisor.plan(planRequestOf(params, contextSize));
    const reload = (contextSize: number, planned: MemoryPlan, how: string, extra: LoadOverrides = {}): ErrorAction => ({
        kind: 'reload',
        path: base.path,
        label: `Reload with ${tokensShort(contextSize)} tokens${how}: KV ${bytesShort(planned.predicted.kvBytes.gpu + planned.predicted.kvBytes.cpu)} ${planned.budget != null ? 'compressed' : 'full cache'}, fits`,
        overrides: { ...load.overrides, ...extra, contextSize },
    });

    const target = offeredContext(needed, longest);
    const atTarget = await plan(base, target);
    if (atTarget.predicted.fits) return { actions: [reload(target, atTarget, '')], advice: `A ${fmt(target)}-token context fits here: reload the model with it to add this.` };
    // The target does not fit; the largest context that does may still hold it.
    const largest = await supervisor.fit({ request: planRequestOf(base, 256), goal: 'context' });
    if (largest.request != null && largest.plan != null && largest.request.contextSize >= needed) {
        const size = largest.request.contextSize;
        return { actions: [reload(size, largest.plan, '')], advice: `A ${fmt(size)}-token context fits here: reload the model with it to add this.` };
    }

    // No context that holds it fits with these settings: what would, at the smallest context that holds it.
    const size = Math.min(contextCellsFor(needed), longest);
    const actions: ErrorAction[] = [];
    const helps: string[] = [];
    if (model.kv.available) {
        const kv = KvOptions.parse({ ...(base.kv ?? {}), mode: 'budget', budget: 0.5 });
        const fit = await supervisor.fit({ request: planRequestOf({ ...base, kv }, size), goal: 'compression' });
        const budget = fit.request?.kv.mode === 'budget' ? fit.request.kv.budget : undefined;
        if (budget != null && fit.plan != null) {
            actions.push(reload(size, fit.plan, ` and a ${Math.round(budget * 100)}% budget`, { kvMode: 'budget', kvBudget: budget, sinks: kv.sinks, window: kv.window, kvOffload: kv.offload }));
            helps.push('a smaller budget');
        }
    }
    if ((base.kvCacheType ?? 'f16') === 'f16' && atTarget.model.kvCacheTypes.includes('q8_0')) {
        const flashAttention = base.flashAttention === 'off' ? 'auto' : base.flashAttention;
        const quantized = await plan({ ...base, kvCacheType: 'q8_0', ...(flashAttention != null ? { flashAttention } : {}) }, size);
        if (quantized.predicted.fits) {
            actions.push(reload(size, quantized, ' and a q8_0 cache', { kvCacheType: 'q8_0', ...(base.flashAttention === 'off' ? { flashAttention: 'auto' as const } : {}) }));
            helps.push('a q8_0 cache');
        }
    }
    if (atTarget.machine.gpu !== false && base.kv != null && base.kv.mode !== 'off' && base.kv.offload !== 'cpu' && atTarget.budget != null) {
        const inRam = await plan({ ...base, kv: { ...base.kv, offload: 'cpu' } }, size);
        if (inRam.predicted.fits) {
            actions.push(reload(size, inRam, ' and full heads in CPU RAM', { kvOffload: 'cpu' }));
            helps.push('full heads in CPU RAM');
        }
    }
    if (actions.length > 0) {
        return { actions, advice: `No context that holds it fits here with these settings; a ${fmt(size)}-token one would with ${orList(helps)}.` };
    }
    return {
        actions,
        advice: `No context that holds it fits this machine, not even with a smaller budget, a q8_0 cache or full heads in CPU RAM: a smaller model would (Models… says which fit here).`,
    };
}

function orList(items: readonly string[]): string {
    return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items.at(-1) ?? ''}`;
}
