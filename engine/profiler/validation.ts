// Whole-plan validation: a budget is judged by running its plan — every head it streams, together —
// on held-out prompts at the context length the user runs, never head by head. Heads join the
// plan in score order; the smallest count whose plan keeps >= 95 % of the full cache's accuracy
// is found by bisection (about log2(heads) checks instead of one per head), and every plan it
// reports was run.
import { isWindowLayer, type KvShape } from '../../common/modelShape.ts';
import { budgetForFullHeads, planWithFullHeads, rankHeads, type HeadPlan, type PlanCheck } from '../../common/kv/policy.ts';
import type { Device } from '../../common/devices.ts';
import type { OpenedModel } from '../load.ts';
import type { PromptSet } from './promptSets.ts';
import { measureQuality, type MeasureOptions, type Quality } from './quality.ts';

/** A plan passes when it keeps this share of the full cache's accuracy. */
export const KEEP_SHARE = 0.95;

export interface PlanSettings {
    sinks: number;
    window: number;
    fullPlacement: Device;
}

/** The heads a plan can stream, best first: the model's window layers keep their own window cache. */
export function rankedHeads(shape: KvShape, scores: number[][]): { layer: number; head: number }[] {
    return rankHeads(scores).filter(({ layer, head }) => !isWindowLayer(shape, layer) && layer < shape.layers && head < shape.kvHeads);
}

/** The plan keeping the `count` best-scoring heads full. */
export function topHeadsPlan(shape: KvShape, scores: number[][], count: number, settings: PlanSettings): HeadPlan {
    return planWithFullHeads(shape, rankedHeads(shape, scores).slice(0, count), settings);
}

export const passes = (accuracy: number, full: Quality) => accuracy >= KEEP_SHARE * full.accuracy;

/** Runs one plan on the held-out prompts and says whether it keeps quality. */
export async function checkPlan(
    opened: OpenedModel, set: PromptSet, shape: KvShape, plan: HeadPlan, full: Quality, measure: MeasureOptions = {},
): Promise<PlanCheck> {
    const fullHeads = plan.policy.flat().filter((p) => p === 'full').length;
    const quality = await measureQuality(opened, set, plan, measure);
    return { fullHeads, budget: budgetForFullHeads(shape, fullHeads, plan), accuracy: quality.accuracy, passed: passes(quality.accuracy, full) };
}

export interface PlanSearch {
    /** Full heads in the smallest plan that passed (every head when none short of that did). */
    fullHeads: number;
    checks: PlanCheck[];
}

/** The smallest number of best-scoring heads whose whole plan keeps quality, by bisection over the count. */
export async function smallestPassingPlan(
    opened: OpenedModel, set: PromptSet, shape: KvShape, scores: number[][], full: Quality, settings: PlanSettings,
    options: MeasureOptions & { onCheck?: (check: PlanCheck) => void } = {},
): Promise<PlanSearch> {
    const heads = rankedHeads(shape, scores).length;
    const checks: PlanCheck[] = [];
    // Every head full is the full cache: it passes by definition and needs no run.
    let low = 0;
    let high = heads;
    while (low < high) {
        const mid = Math.floor((low + high) / 2);
        const check = await checkPlan(opened, set, shape, topHeadsPlan(shape, scores, mid, settings), full, options);
        checks.push(check);
        options.onCheck?.(check);
        if (check.passed) high = mid;
        else low = mid + 1;
    }
    return { fullHeads: high, checks };
}

/** Checks needed to search `heads` heads: the progress bar's estimate. */
export const searchChecks = (heads: number) => Math.ceil(Math.log2(heads + 1));
