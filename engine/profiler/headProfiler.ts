// Profiles a model's KV heads without training, on a model loaded once with one context per
// trial: (1) score every head, by default from its attention in one pass per prompt
// (attentionScores.ts; `--method ablation` is leave-one-out, ablation.ts); (2) choose the budget
// by running whole plans on held-out prompts at the context length the user runs, as far as this
// machine's memory allows (validation.ts). The result is a HeadProfile: scores, the recommended
// budget and how it was validated.
import { HeadroomError } from '../../common/errors.ts';
import { automaticContextSize } from '../../common/loadOptions.ts';
import { contextCellsFor, isWindowLayer, kvShapeFromMetadata, type KvShape } from '../../common/modelShape.ts';
import { budgetForFullHeads, COMPRESSED_UBATCH, HeadProfile, KvOptions, type PlanCheck, type ProfileMethod, type ProfileValidation } from '../../common/kv/policy.ts';
import { openModel, type OpenedModel } from '../load.ts';
import { fit, plan as planMemory } from '../planner.ts';
import { computeDevice, runtime } from '../runtime.ts';
import { scoreByAblation } from './ablation.ts';
import { scoreByAttention } from './attentionScores.ts';
import { heldOutPrompts, scoringPrompts, type PromptSet } from './promptSets.ts';
import { measureQuality, type Quality } from './quality.ts';
import { searchChecks, smallestPassingPlan, type PlanSettings } from './validation.ts';

export const DEFAULTS = {
    method: 'attention' as ProfileMethod,
    prompts: 8,
    tokens: 1024,
    seed: 1,
    /** The streaming head leave-one-out ablation makes. */
    sinks: 4,
    window: 64,
    validationPrompts: 4,
};

/** Below this full-cache accuracy a validation length says little; the profiler tries half of it. */
const MIN_FULL_ACCURACY = 0.5;
export type ProfileStage = 'loading' | 'scoring' | 'validating';

export interface ProfileProgress {
    stage: ProfileStage;
    /** Tokens evaluated so far, of about `total` (validation may add some). */
    done: number;
    total: number;
    /** Seconds left at the speed measured so far; null until something was measured. */
    etaSeconds: number | null;
}

export interface ProfileOptions {
    modelPath: string;
    sha256: string;
    method: ProfileMethod;
    /** Scoring prompts and their length in tokens. */
    prompts: number;
    promptTokens: number;
    seed: number;
    /** The streaming head leave-one-out makes (ablation only). */
    sinks: number;
    window: number;
    /** The context length the user runs: plans are validated there, as far as this machine's memory allows. Default: the model's automatic context. */
    contextTokens?: number;
    validationPrompts: number;
    /** The streaming heads a load will run (its sinks and window), which the plans are checked with. */
    planKv?: KvOptions;
    threads?: number;
    log?: (line: string) => void;
    progress?: (progress: ProfileProgress) => void;
}

export interface ProfileRun {
    profile: HeadProfile;
    full: Quality;
    /** Seconds spent scoring heads, and validating plans. */
    seconds: { scoring: number; validation: number };
}

/** Tokens a profile evaluates: what the progress bar and the time estimate count. */
export function profileWork(options: { method: ProfileMethod; prompts: number; promptTokens: number; validationPrompts: number; validationTokens: number; heads: number }): { scoring: number; validation: number } {
    const passes = options.method === 'attention' ? 1 : 1 + options.heads;
    return {
        scoring: passes * options.prompts * options.promptTokens,
        validation: (1 + searchChecks(options.heads)) * options.validationPrompts * options.validationTokens,
    };
}

/** Tokens evaluated against time, for progress and the time left. */
class WorkMeter {
    #done = 0;
    #total: number;
    #started = performance.now();
    #report: ((progress: ProfileProgress) => void) | undefined;
    stage: ProfileStage = 'loading';

    constructor(total: number, report?: (progress: ProfileProgress) => void) {
        this.#total = total;
        this.#report = report;
    }

    /** Restarts the clock once the model is loaded: the speed is the evaluation's. */
    start(stage: ProfileStage): void {
        this.stage = stage;
        if (this.#done === 0) this.#started = performance.now();
        this.#emit();
    }

    add(tokens: number): void {
        this.#done += tokens;
        this.#total = Math.max(this.#total, this.#done);
        this.#emit();
    }

    /** More work than first thought (validation at a second length). */
    grow(tokens: number): void {
        this.#total += tokens;
    }

    /** Done: the estimate gives way to what was done (the search may need fewer checks than it allowed for). */
    finish(): void {
        this.#total = this.#done;
        this.#emit();
    }

    #emit(): void {
        const seconds = (performance.now() - this.#started) / 1000;
        const etaSeconds = this.#done > 0 && seconds > 0 ? Math.round(((this.#total - this.#done) * seconds) / this.#done) : null;
        this.#report?.({ stage: this.stage, done: this.#done, total: this.#total, etaSeconds });
    }
}

/** The context plans are validated at: the one asked for, or the longest shorter one whose full cache fits this machine. */
async function validationLength(modelPath: string, wanted: number): Promise<{ tokens: number; note: string | null }> {
    const request = { path: modelPath, contextSize: wanted };
    if ((await planMemory(request)).predicted.fits) return { tokens: wanted, note: null };
    const fitted = await fit(request, 'context');
    if (fitted.request == null) throw new HeadroomError('NOT_AVAILABLE', `There is not enough memory here to validate a head profile: ${fitted.message}`);
    const tokens = Math.min(wanted, fitted.request.contextSize);
    return { tokens, note: `The full cache fits in this machine's memory up to ${tokens.toLocaleString('en-US')} tokens, not ${wanted.toLocaleString('en-US')}: plans were validated there.` };
}

function kvShapeAt(opened: OpenedModel, contextTokens: number): KvShape {
    const shape = kvShapeFromMetadata(opened.metadata, contextCellsFor(contextTokens), COMPRESSED_UBATCH);
    if (shape == null) throw new HeadroomError('NOT_AVAILABLE', 'The model\'s GGUF metadata does not describe its attention heads, so they cannot be profiled.');
    return shape;
}

function streamableHeads(shape: KvShape): number {
    return Array.from({ length: shape.layers }, (_, layer) => layer).filter((layer) => !isWindowLayer(shape, layer)).length * shape.kvHeads;
}

export async function profileHeads(options: ProfileOptions): Promise<ProfileRun> {
    const log = options.log ?? (() => {});
    const { llama } = await runtime.get();
    const threads = options.threads != null ? { threads: options.threads } : {};
    const planKv = options.planKv ?? KvOptions.parse({ mode: 'auto' });
    const settings: PlanSettings = { sinks: planKv.sinks, window: planKv.window, fullPlacement: computeDevice(llama) };

    // Before the model is loaded here: the planner counts this machine's free memory.
    const { readGgufFileInfo } = await import('node-llama-cpp');
    const info = await readGgufFileInfo(options.modelPath).catch(() => null);
    const trained = Number(info?.architectureMetadata.context_length ?? 0);
    const asked = Math.max(options.promptTokens, options.contextTokens ?? automaticContextSize(trained));
    const fitted = await validationLength(options.modelPath, asked);
    const notes = fitted.note == null ? [] : [fitted.note];

    const opened = await openModel({ path: options.modelPath });
    try {
        const userShape = kvShapeAt(opened, asked);
        const heads = streamableHeads(userShape);
        const work = profileWork({ ...options, validationTokens: fitted.tokens, heads });
        const meter = new WorkMeter(work.scoring + work.validation, options.progress);
        const onPrompt = (tokens: number) => meter.add(tokens);

        // 1. Scores.
        meter.start('scoring');
        const scoringStarted = performance.now();
        const scoring = await scoringPrompts(opened.model, options.prompts, options.promptTokens, options.seed);
        const scoringShape = kvShapeAt(opened, scoring.contextTokens);
        log(`scoring ${heads} KV heads by ${options.method === 'attention' ? 'attention on the needle, one pass' : 'leave-one-out ablation, one pass per head'} over ${scoring.prompts.length} prompts of ~${scoring.contextTokens} tokens (${scoring.filler})`);
        const scores = options.method === 'attention'
            ? await scoreByAttention(opened, scoringShape, scoring, { ...threads, onPrompt })
            : (await scoreByAblation(opened, scoringShape, scoring, { sinks: options.sinks, window: options.window, ...threads, onPrompt, log })).scores;
        const scoringSeconds = (performance.now() - scoringStarted) / 1000;
        log(`scored in ${scoringSeconds.toFixed(1)} s`);

        // 2. The budget, from whole plans on held-out prompts.
        meter.start('validating');
        const validationStarted = performance.now();
        let length = fitted.tokens;
        let set: PromptSet;
        let full: Quality;
        for (;;) {
            set = await heldOutPrompts(opened.model, options.validationPrompts, length, options.seed);
            full = await measureQuality(opened, set, null, { ...threads, onPrompt });
            log(`held out: ${set.prompts.length} prompts of ~${length} tokens (${set.filler}); full cache accuracy ${(full.accuracy * 100).toFixed(0)}%`);
            const shorter = Math.floor(length / 2);
            if (full.accuracy >= MIN_FULL_ACCURACY || shorter < options.promptTokens) break;
            notes.push(`The full cache found ${(full.accuracy * 100).toFixed(0)}% of the needles at ${length.toLocaleString('en-US')} tokens, too few to judge plans by; they were validated at ${shorter.toLocaleString('en-US')}.`);
            meter.grow((1 + searchChecks(heads)) * set.prompts.length * shorter);
            length = shorter;
        }
        const validationShape = kvShapeAt(opened, length);
        let checks: PlanCheck[] = [];
        // without a judged plan, half the heads stay full
        let fullHeads = Math.ceil(heads / 2);
        let recommendedBudget = budgetForFullHeads(userShape, fullHeads, settings);
        let verdict: ProfileValidation['verdict'] = 'inconclusive';
        if (full.accuracy > 0) {
            const search = await smallestPassingPlan(opened, set, validationShape, scores, full, settings, {
                ...threads, onPrompt,
                onCheck: (check) => log(`plan with the ${check.fullHeads} best heads full (budget ${check.budget} at ${length} tokens): accuracy ${(check.accuracy * 100).toFixed(0)}%, ${check.passed ? 'keeps' : 'loses'} quality`),
            });
            checks = search.checks;
            verdict = 'validated';
            fullHeads = search.fullHeads;
            recommendedBudget = budgetForFullHeads(userShape, fullHeads, settings);
            log(`recommended budget ${recommendedBudget}: the ${search.fullHeads} best of ${heads} heads full at ${asked} tokens`);
        } else {
            notes.push('The full cache found no needle, so no plan could be judged: half the heads are kept full.');
            log(notes.at(-1) ?? '');
        }
        const validationSeconds = (performance.now() - validationStarted) / 1000;
        meter.finish();
        const profile = HeadProfile.parse({
            modelSha256: options.sha256,
            layers: userShape.layers,
            kvHeads: userShape.kvHeads,
            scores,
            source: 'profiler',
            method: options.method,
            fullHeads,
            recommendedBudget,
            validation: {
                verdict, contextTokens: length, prompts: set.prompts.length, filler: set.filler,
                fullAccuracy: full.accuracy, checks, note: notes.length === 0 ? null : notes.join(' '),
            },
            createdAt: new Date().toISOString(),
        });
        return { profile, full, seconds: { scoring: scoringSeconds, validation: validationSeconds } };
    } finally {
        await opened.dispose();
    }
}
