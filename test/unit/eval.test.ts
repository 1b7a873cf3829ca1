// `npm run eval`'s generated tasks (engine/eval.ts) and its scoring (common/eval.ts), without a
// model: the chats are the same for a seed, each task is what it says (keys one word apart, the
// later value asked, keys sharing no word), every answer is in its document, and the per-task
// figures compare the plan with the full cache on the same chats.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Token } from 'node-llama-cpp';
import { EVAL_TASKS, evalTaskResults, scoreOf, wilson95, type EvalAnswer } from '../../common/eval.ts';
import {
    buildEvalDocument, evalChatSpec, evalQuestions, evalStream, MULTIKEY_FACTS, MULTIQUERY_FACTS, MULTIQUERY_QUESTIONS, scoreAnswer, type EvalChatSpec,
} from '../../engine/eval.ts';
import { readEvalResults, sameChats } from '../../bench/eval.ts';
import { EVAL_FILLER, HELD_OUT_FILLER, loadFiller, SCORING_FILLER, seededRandom, type TextTokenizer } from '../../engine/profiler/haystack.ts';

/** One token per character: enough to size documents without a model. */
const chars: TextTokenizer = {
    tokenize: (text) => [...text].map((c) => c.codePointAt(0) as Token),
    detokenize: (tokens) => String.fromCodePoint(...tokens),
};
const filler = loadFiller(EVAL_FILLER);
const words = (key: string) => key.split(' ');

function specs(seed: number, task: (typeof EVAL_TASKS)[number], count = 12): EvalChatSpec[] {
    const random = evalStream(seed, task, 1024);
    return Array.from({ length: count }, (_, i) => evalChatSpec(task, random, i, count));
}

describe('eval tasks', () => {
    test('the same seed, task and length give the same chats; another seed, length or task other ones', () => {
        for (const task of EVAL_TASKS) {
            assert.deepEqual(specs(21, task), specs(21, task));
            assert.notDeepEqual(specs(21, task), specs(22, task));
        }
        assert.notEqual(evalStream(21, 'single', 1024)(), evalStream(21, 'single', 2048)());
        assert.notEqual(evalStream(21, 'single', 1024)(), evalStream(21, 'multikey', 1024)());
        // the documents too: the stream places the facts and picks where the filler starts
        const build = () => {
            const random = evalStream(5, 'multiquery', 1024);
            return buildEvalDocument(chars, filler, evalChatSpec('multiquery', random), 3000, random);
        };
        assert.deepEqual(build(), build());
    });

    test('the filler is neither the profiler\'s scoring nor its held-out one', () => {
        assert.equal(EVAL_FILLER.name, 'filler-lgpl-2.1.txt');
        assert.ok(filler.startsWith('GNU LESSER GENERAL PUBLIC LICENSE'));
        for (const other of [SCORING_FILLER, HELD_OUT_FILLER]) {
            assert.notEqual(other.name, EVAL_FILLER.name);
            assert.ok(!loadFiller(other).includes(filler.slice(2000, 2200)), `${other.name} shares no passage`);
        }
    });

    test('single: one fact, asked back, its depths spread over the chats', () => {
        const all = specs(3, 'single', 10);
        for (const [i, spec] of all.entries()) {
            assert.equal(spec.facts.length, 1);
            assert.deepEqual(spec.asked, [0]);
            const depth = spec.facts[0]?.depth ?? -1;
            assert.ok(depth >= i / 10 && depth < (i + 1) / 10, `chat ${i} at depth ${depth}`);
            assert.match(spec.facts[0]?.digits ?? '', /^\d{5}$/);
        }
    });

    test('multikey: the asked key among distractors that each differ from it by exactly one word', () => {
        for (const spec of specs(4, 'multikey', 30)) {
            assert.equal(spec.facts.length, MULTIKEY_FACTS);
            const asked = spec.facts[spec.asked[0] ?? -1];
            assert.ok(asked != null);
            const keys = spec.facts.map((f) => f.key);
            assert.equal(new Set(keys).size, keys.length, 'every key differs');
            assert.equal(new Set(spec.facts.map((f) => f.digits)).size, keys.length, 'every value differs');
            for (const other of spec.facts.filter((f) => f !== asked)) {
                const [c1, o1] = words(asked.key);
                const [c2, o2] = words(other.key);
                assert.equal(Number(c1 === c2) + Number(o1 === o2), 1, `${other.key} vs ${asked.key}`);
            }
            const [question] = evalQuestions(spec, spec.facts.map((f) => f.depth));
            assert.deepEqual(question?.others.map((o) => o.label).sort(), keys.filter((k) => k !== asked.key).sort());
        }
    });

    test('multivalue: one key stated twice, the later value asked, the earlier one known as such', () => {
        for (const spec of specs(5, 'multivalue', 30)) {
            const [earlier, later] = spec.facts;
            assert.ok(earlier != null && later != null && spec.facts.length === 2);
            assert.equal(earlier.key, later.key);
            assert.notEqual(earlier.digits, later.digits);
            assert.ok(earlier.depth < 0.45 && later.depth >= 0.55, 'apart by more than the jitter');
            assert.deepEqual(spec.asked, [1]);
            const [question] = evalQuestions(spec, [earlier.depth, later.depth]);
            assert.equal(question?.expected, later.digits);
            assert.deepEqual(question?.others, [{ digits: earlier.digits, label: 'earlier value' }]);
            assert.deepEqual(scoreAnswer(question, `The passcode for the ${later.key} is ${earlier.digits}.`), { correct: false, confusedWith: 'earlier value' });
            assert.deepEqual(scoreAnswer(question, `The passcode for the ${later.key} is ${later.digits}.`), { correct: true, confusedWith: null });
        }
    });

    test('multiquery: keys that share no word, several of them asked in turn', () => {
        for (const spec of specs(6, 'multiquery', 30)) {
            assert.equal(spec.facts.length, MULTIQUERY_FACTS);
            assert.equal(spec.asked.length, MULTIQUERY_QUESTIONS);
            assert.equal(new Set(spec.asked).size, MULTIQUERY_QUESTIONS, 'each question asks another fact');
            const allWords = spec.facts.flatMap((f) => words(f.key));
            assert.equal(new Set(allWords).size, allWords.length, spec.facts.map((f) => f.key).join(', '));
        }
    });

    test('every fact is in its document, in depth order: the later value after the earlier, the right digits where the question points', () => {
        for (const task of EVAL_TASKS) {
            for (const spec of specs(7, task, 8)) {
                const random = seededRandom(1);
                const { document, depths } = buildEvalDocument(chars, filler, spec, 2000, random);
                assert.ok(Math.abs(document.length - 2000) < 20, `${task}: ${document.length} characters for 2,000 tokens`);
                const at = spec.facts.map((f) => document.indexOf(`The passcode for the ${f.key} is ${f.digits}.`));
                assert.ok(at.every((i) => i >= 0), `${task}: every fact is in the document`);
                for (const [i, fact] of spec.facts.entries()) {
                    assert.ok(Math.abs((depths[i] ?? -1) - fact.depth) < 0.1, `${task}: placed near its depth (${depths[i]} for ${fact.depth})`);
                }
                const byDepth = spec.facts.map((_, i) => i).sort((a, b) => (depths[a] ?? 0) - (depths[b] ?? 0) || a - b);
                assert.deepEqual([...byDepth].sort((a, b) => (at[a] ?? 0) - (at[b] ?? 0)), byDepth, `${task}: in the order placed`);
                if (task === 'multivalue') assert.ok((at[0] ?? 0) < (at[1] ?? 0), 'the later value comes later');
                for (const question of evalQuestions(spec, depths)) assert.ok(document.includes(question.expected));
            }
        }
    });
});

describe('eval scoring', () => {
    const answer = (over: Partial<EvalAnswer>): EvalAnswer => ({
        task: 'single', contextTokens: 1024, chat: 0, turn: 0, key: 'red lamp', expected: '12345', answer: '', correct: true,
        confusedWith: null, depth: 0.5, promptTokens: 900, reusedTokens: 0, ...over,
    });

    test('Wilson intervals: what N trials can tell', () => {
        assert.deepEqual(wilson95(20, 20), [0.8389, 1]);
        assert.deepEqual(wilson95(0, 0), [0, 1]);
        const [low, high] = wilson95(32, 40);
        assert.ok(low > 0.64 && low < 0.66 && high > 0.89 && high < 0.91, `${low}–${high}`);
        assert.deepEqual(scoreOf([{ correct: true }, { correct: false }]), { accuracy: 0.5, correct: 1, trials: 2, interval95: wilson95(1, 2) });
    });

    test('the plan is compared with the full cache on the same chats: ratio, lost and gained, per length and per turn; a refused length is left out', () => {
        const full = [
            answer({ chat: 0 }), answer({ chat: 1 }), answer({ chat: 2, correct: false }), answer({ chat: 3 }),
            answer({ contextTokens: 2048, chat: 0 }), answer({ contextTokens: 2048, chat: 1, correct: false }),
            answer({ task: 'multiquery', turn: 0 }), answer({ task: 'multiquery', turn: 1 }),
        ];
        // at 2,048 the plan was refused: no answers there
        const plan = [
            answer({ chat: 0 }), answer({ chat: 1, correct: false }), answer({ chat: 2 }), answer({ chat: 3, correct: false }),
            answer({ task: 'multiquery', turn: 0 }), answer({ task: 'multiquery', turn: 1, correct: false }),
        ];
        const [single, multiquery] = evalTaskResults(['single', 'multiquery'], full, plan);
        assert.equal(single?.full.trials, 4, 'the full cache over the lengths the plan ran');
        assert.equal(single?.full.accuracy, 0.75);
        assert.equal(single?.accuracy, 0.5);
        assert.equal(single?.trials, 4);
        assert.equal(single?.ratio, 0.5 / 0.75);
        assert.deepEqual(single?.paired, { lost: 2, gained: 1 });
        assert.deepEqual(single?.lengths.map((l) => [l.contextTokens, l.full.accuracy, l.plan?.accuracy ?? null]), [[1024, 0.75, 0.5], [2048, 0.5, null]]);
        assert.deepEqual(multiquery?.turns.map((t) => [t.turn, t.full.accuracy, t.plan?.accuracy]), [[0, 1, 1], [1, 1, 0]]);

        const [alone] = evalTaskResults(['single'], full, null);
        assert.equal(alone?.plan, null);
        assert.equal(alone?.ratio, null);
        assert.equal(alone?.trials, 6, 'with --kv off, the full cache over every length');
    });
});

describe('eval charts', () => {
    test('one summary chart holds only runs that asked the same chats: another seed or size is drawn apart', async () => {
        const runs = await readEvalResults(new URL('../../bench/results/cpu-organism-eval/', import.meta.url).pathname);
        const sets = sameChats(runs);
        assert.deepEqual(sets.map((set) => set.map((run) => run.result.seed)), [[21, 21, 21, 21, 21, 21], [22]]);
        assert.deepEqual(sets.map((set) => set[0]?.result.chats), [40, 150]);
    });
});
