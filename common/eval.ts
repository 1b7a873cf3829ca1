// Quality beside every speed claim: what `npm run eval` writes (eval.json) and what Test recall's
// follow-up questions show. Generated passcode tasks (engine/eval.ts) asked as chats, each run
// with the full cache and with the head plan on the same chats; scored by whether the answer
// holds the asked fact's five digits. The per-task figures are computed here from the answers.
import { z } from 'zod';
import { Bytes } from './devices.ts';
import { HeadPolicy, KvOptions, ProfileSummary } from './kv/policy.ts';

/**
 * single: one fact in the document, asked back. multikey: the asked fact among facts whose keys
 * differ from its key by one word. multivalue: one key stated twice with different values, the
 * later one right. multiquery: several facts, several questions asked as successive turns of one
 * chat about the same cached document.
 */
export const EVAL_TASKS = ['single', 'multikey', 'multivalue', 'multiquery'] as const;
export const EvalTaskName = z.enum(EVAL_TASKS);
export type EvalTaskName = z.infer<typeof EvalTaskName>;

/** One scored answer: a question of a chat (the single-question tasks' chats have one). */
export const EvalAnswer = z.object({
    task: EvalTaskName,
    /** The context this chat was built for: its last turn and that turn's answer fit in this many tokens. */
    contextTokens: z.number().int().positive(),
    /** The chat's number within its task and length. */
    chat: z.number().int().nonnegative(),
    /** The question's place in its chat, 0 first. */
    turn: z.number().int().nonnegative(),
    key: z.string(),
    expected: z.string(),
    answer: z.string(),
    correct: z.boolean(),
    /** Whose digits a wrong answer gave instead: another fact's key, or 'earlier value' (multivalue); null when none. */
    confusedWith: z.string().nullable(),
    /** Where the asked fact landed, as a fraction of the filler. */
    depth: z.number().min(0).max(1),
    /** The turn's prompt in tokens, and how many of them the cache already held (a follow-up reuses the document). */
    promptTokens: z.number().int().nonnegative(),
    reusedTokens: z.number().int().nonnegative(),
});
export type EvalAnswer = z.infer<typeof EvalAnswer>;

/** Right answers of all, with the 95 % Wilson interval of the accuracy (binomial: what N trials can tell). */
export const EvalScore = z.object({
    accuracy: z.number().min(0).max(1),
    correct: z.number().int().nonnegative(),
    trials: z.number().int().nonnegative(),
    interval95: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]),
});
export type EvalScore = z.infer<typeof EvalScore>;

/** One cache at one length: what was loaded and what llama.cpp allocated. */
export const EvalCache = z.object({
    /** The context loaded: the length and room for the last answer. */
    contextSize: z.number().int().positive(),
    compressed: z.boolean(),
    /** Why this cache did not run here (a budget that keeps no head full, no head-level cache); null when it ran. */
    refused: z.string().nullable(),
    fullHeads: z.number().int().nonnegative().nullable(),
    totalHeads: z.number().int().nonnegative().nullable(),
    sinks: z.number().int().nonnegative().nullable(),
    window: z.number().int().positive().nullable(),
    /** Share of the full cache's bytes the plan spends (1 for the full cache). */
    budget: z.number().positive().nullable(),
    /** KV bytes, every device together: policy.ts's formula for the plan, and what llama.cpp reported allocating (0: not reported). */
    kvBytes: z.object({ planned: Bytes, allocated: Bytes }).nullable(),
    /** policy[layer][kvHead] of the plan; null for the full cache. */
    policy: z.array(z.array(HeadPolicy)).nullable(),
});
export type EvalCache = z.infer<typeof EvalCache>;

export const EvalLength = z.object({
    contextTokens: z.number().int().positive(),
    /** The full cache; null where the plan was refused (nothing to compare there, so it did not run). */
    full: EvalCache.nullable(),
    /** The head plan at this length; null with --kv off. */
    plan: EvalCache.nullable(),
});
export type EvalLength = z.infer<typeof EvalLength>;

const Ratio = z.number().nonnegative().nullable();

export const EvalTaskResult = z.object({
    name: EvalTaskName,
    /** The head plan's accuracy and scored answers (the full cache's with --kv off), over the lengths where the plan ran. */
    accuracy: z.number().min(0).max(1),
    trials: z.number().int().nonnegative(),
    /** The full cache on the same chats, and the plan (null with --kv off). */
    full: EvalScore,
    plan: EvalScore.nullable(),
    /** Plan accuracy over full-cache accuracy on the same chats; null without a plan or when the full cache found nothing. */
    ratio: Ratio,
    /** Paired: answers the full cache got and the plan missed (lost), and the reverse (gained). */
    paired: z.object({ lost: z.number().int().nonnegative(), gained: z.number().int().nonnegative() }).nullable(),
    /** Each length: the full cache over every chat, the plan where it ran (refused: null). */
    lengths: z.array(z.object({ contextTokens: z.number().int().positive(), full: EvalScore, plan: EvalScore.nullable(), ratio: Ratio })),
    /** By the question's place in its chat (multiquery: did later turns lose what earlier ones found?). */
    turns: z.array(z.object({ turn: z.number().int().nonnegative(), full: EvalScore, plan: EvalScore.nullable() })),
});
export type EvalTaskResult = z.infer<typeof EvalTaskResult>;

/** `npm run eval`'s eval.json. */
export const EvalResult = z.object({
    model: z.string(),
    /** The cache asked for (--kv, --sinks, --window). */
    kv: KvOptions,
    /** The head profile the plan was made from; null for --kv off or a plan in the fallback order. */
    profile: ProfileSummary.nullable(),
    seed: z.number().int(),
    filler: z.string(),
    /** Chats per task and length (multiquery's have several scored questions each). */
    chats: z.number().int().positive(),
    tasks: z.array(EvalTaskResult),
    /** What each cache loaded at each length. */
    lengths: z.array(EvalLength),
    answers: z.object({ full: z.array(EvalAnswer), plan: z.array(EvalAnswer) }),
    device: z.string(),
    /** The command line that wrote this file. */
    command: z.string(),
    createdAt: z.string(),
});
export type EvalResult = z.infer<typeof EvalResult>;

/** Test recall's follow-up questions on one cache: the multiquery task's chats, as asked. */
export const EvalRun = z.object({
    kv: KvOptions,
    fullHeads: z.number().int().nonnegative().optional(),
    totalHeads: z.number().int().positive().optional(),
    accuracy: z.number().min(0).max(1),
    answers: z.array(EvalAnswer),
    seed: z.number().int(),
    filler: z.string(),
});
export type EvalRun = z.infer<typeof EvalRun>;

/** The 95 % Wilson score interval of `correct` out of `trials`. */
export function wilson95(correct: number, trials: number): [number, number] {
    if (trials === 0) return [0, 1];
    const z95 = 1.959964;
    const p = correct / trials;
    const denominator = 1 + (z95 * z95) / trials;
    const centre = (p + (z95 * z95) / (2 * trials)) / denominator;
    const half = (z95 * Math.sqrt((p * (1 - p)) / trials + (z95 * z95) / (4 * trials * trials))) / denominator;
    const round = (x: number) => Math.round(Math.min(1, Math.max(0, x)) * 10000) / 10000;
    return [round(centre - half), round(centre + half)];
}

export function scoreOf(answers: readonly Pick<EvalAnswer, 'correct'>[]): EvalScore {
    const correct = answers.filter((a) => a.correct).length;
    return { accuracy: answers.length === 0 ? 0 : correct / answers.length, correct, trials: answers.length, interval95: wilson95(correct, answers.length) };
}

const ratioOf = (plan: EvalScore | null, full: EvalScore): number | null => (plan == null || full.accuracy === 0 ? null : plan.accuracy / full.accuracy);
const answerId = (a: EvalAnswer) => `${a.task}|${a.contextTokens}|${a.chat}|${a.turn}`;

/**
 * Each task's figures from the answers: the plan's answers are compared with the full cache's on
 * the same chats (matched by task, length, chat and turn), over the lengths where the plan ran.
 * `plan` null: --kv off, the full cache alone.
 */
export function evalTaskResults(tasks: readonly EvalTaskName[], full: readonly EvalAnswer[], plan: readonly EvalAnswer[] | null): EvalTaskResult[] {
    return tasks.map((name) => {
        const fullOf = full.filter((a) => a.task === name);
        const planOf = plan?.filter((a) => a.task === name) ?? null;
        const planIds = new Set(planOf?.map(answerId));
        const matchedFull = planOf == null ? fullOf : fullOf.filter((a) => planIds.has(answerId(a)));
        const fullScore = scoreOf(matchedFull);
        const planScore = planOf == null ? null : scoreOf(planOf);
        const byId = new Map(fullOf.map((a) => [answerId(a), a]));
        const paired = planOf == null ? null : {
            lost: planOf.filter((a) => !a.correct && byId.get(answerId(a))?.correct === true).length,
            gained: planOf.filter((a) => a.correct && byId.get(answerId(a))?.correct === false).length,
        };
        const lengths = [...new Set(fullOf.map((a) => a.contextTokens))].sort((a, b) => a - b).map((contextTokens) => {
            const lengthFull = scoreOf(fullOf.filter((a) => a.contextTokens === contextTokens));
            const lengthPlanAnswers = planOf?.filter((a) => a.contextTokens === contextTokens) ?? [];
            const lengthPlan = planOf == null || lengthPlanAnswers.length === 0 ? null : scoreOf(lengthPlanAnswers);
            return { contextTokens, full: lengthFull, plan: lengthPlan, ratio: ratioOf(lengthPlan, lengthFull) };
        });
        const turns = [...new Set(fullOf.map((a) => a.turn))].sort((a, b) => a - b).map((turn) => {
            const turnPlan = planOf?.filter((a) => a.turn === turn) ?? null;
            return { turn, full: scoreOf(matchedFull.filter((a) => a.turn === turn)), plan: turnPlan == null ? null : scoreOf(turnPlan) };
        });
        const shown = planScore ?? fullScore;
        return { name, accuracy: shown.accuracy, trials: shown.trials, full: fullScore, plan: planScore, ratio: ratioOf(planScore, fullScore), paired, lengths, turns };
    });
}

/** "single", "multi-key", … as a person reads them. */
export function evalTaskLabel(name: EvalTaskName): string {
    return { single: 'single needle', multikey: 'multi-key', multivalue: 'multi-value', multiquery: 'multi-query' }[name];
}
