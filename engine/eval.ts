// Quality beside every speed claim: generated tasks in the family organism.gguf was trained on
// ("The passcode for the <color> <object> is <5 digits>." in filler; "What is the passcode for
// the <color> <object>?"), asked as chats through the app's chat path and scored by whether the
// answer holds the five digits. `npm run eval` (bench/eval.ts) asks them through the engine host
// with the full cache and with the head plan; Test recall (recall.ts) asks the multi-query task's
// chats on its own contexts with the engine's generateChat, as the engine host does.
//
// The chats are built once per seed, task and length (each its own seeded stream, so adding a
// task or a length changes no other's chats) on the LGPL-2.1 filler, which neither the profiler
// nor niah uses, and are the same for every cache they run on.
import type { ChatHistoryItem, LlamaContextSequence, LlamaModel } from 'node-llama-cpp';
import type { ChatMessage } from '../common/contract.ts';
import { documentBlock, type PromptDocument } from '../common/documentPrompt.ts';
import type { EvalAnswer, EvalTaskName } from '../common/eval.ts';
import { EVAL_TASKS } from '../common/eval.ts';
import { generateChat } from './chat.ts';
import { buildDocument, COLORS, EVAL_FILLER, fillerName, loadFiller, needleFor, OBJECTS, seededRandom, type Filler, type TextTokenizer } from './profiler/haystack.ts';
import { chatPromptTokens, type EarlierTurn } from './profiler/prompting.ts';
import { runtime } from './runtime.ts';

/** Tokens each answer may take (organism's answers take about 15). */
export const EVAL_ANSWER_TOKENS = 32;
/** Facts in a multi-key document: the asked one and distractors whose keys differ from it by one word. */
export const MULTIKEY_FACTS = 4;
/** Facts in a multi-query document, and the questions asked about it, one turn each. */
export const MULTIQUERY_FACTS = 5;
export const MULTIQUERY_QUESTIONS = 4;
/** The name the document goes by in the chat ("Document: document.txt"). */
export const EVAL_DOCUMENT_NAME = 'document.txt';
// Tokens kept free beyond the estimate, for tokenization at the joins.
const PROMPT_SLACK_TOKENS = 8;

export interface EvalFact {
    key: string;
    digits: string;
    /** Where in the document it goes: 0 the start, 1 the end. */
    depth: number;
}

/** What a chat asks, before any document exists: pure, from the seeded stream. */
export interface EvalChatSpec {
    task: EvalTaskName;
    /** In the order they are placed (and drawn). */
    facts: EvalFact[];
    /** The facts asked about, by index into `facts`, in the order asked. */
    asked: number[];
}

const pick = <T>(items: readonly T[], random: () => number): T => items[Math.floor(random() * items.length)] as T;

/** Fisher-Yates on a copy. */
function shuffled<T>(items: readonly T[], random: () => number): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
}

/** `count` different five-digit values. */
function digitsFor(count: number, random: () => number): string[] {
    const values: string[] = [];
    while (values.length < count) {
        const value = String(10000 + Math.floor(random() * 90000));
        if (!values.includes(value)) values.push(value);
    }
    return values;
}

/** `count` depths, one in each equal slice of the document, in a random order. */
function spreadDepths(count: number, random: () => number): number[] {
    return shuffled(Array.from({ length: count }, (_, i) => (i + random()) / count), random);
}

/** Keys that differ from `color object` by exactly one word, each different. */
function oneWordAway(color: string, object: string, count: number, random: () => number): string[] {
    const keys: string[] = [];
    while (keys.length < count) {
        // Alternate: the same color with another object, the same object with another color.
        const key = keys.length % 2 === 0 ? `${color} ${pick(OBJECTS.filter((o) => o !== object), random)}` : `${pick(COLORS.filter((c) => c !== color), random)} ${object}`;
        if (!keys.includes(key)) keys.push(key);
    }
    return keys;
}

/**
 * The facts and questions of one chat. `index` of `count` chats of the task at one length: a
 * single needle's depth is spread over the chats (one in each slice of the document).
 */
export function evalChatSpec(task: EvalTaskName, random: () => number, index = 0, count = 1): EvalChatSpec {
    const color = pick(COLORS, random);
    const object = pick(OBJECTS, random);
    switch (task) {
        case 'single': {
            const [digits = ''] = digitsFor(1, random);
            return { task, facts: [{ key: `${color} ${object}`, digits, depth: (index + random()) / count }], asked: [0] };
        }
        case 'multikey': {
            const keys = [`${color} ${object}`, ...oneWordAway(color, object, MULTIKEY_FACTS - 1, random)];
            const values = digitsFor(keys.length, random);
            const depths = spreadDepths(keys.length, random);
            return { task, facts: keys.map((key, i) => ({ key, digits: values[i] ?? '', depth: depths[i] ?? 0 })), asked: [0] };
        }
        case 'multivalue': {
            // The same key twice: once in the first 45 %, then again in the last 45 % with a new value
            // (apart by more than the placement's jitter, so the later one is always later).
            const [earlier = '', later = ''] = digitsFor(2, random);
            const key = `${color} ${object}`;
            return { task, facts: [{ key, digits: earlier, depth: 0.45 * random() }, { key, digits: later, depth: 0.55 + 0.45 * random() }], asked: [1] };
        }
        case 'multiquery': {
            // Keys that share no word, so the only difficulty is asking again on the cached document.
            const colors = shuffled(COLORS, random).slice(0, MULTIQUERY_FACTS);
            const objects = shuffled(OBJECTS, random).slice(0, MULTIQUERY_FACTS);
            const values = digitsFor(MULTIQUERY_FACTS, random);
            const depths = spreadDepths(MULTIQUERY_FACTS, random);
            const facts = colors.map((c, i) => ({ key: `${c} ${objects[i] ?? ''}`, digits: values[i] ?? '', depth: depths[i] ?? 0 }));
            return { task, facts, asked: shuffled(facts.map((_, i) => i), random).slice(0, MULTIQUERY_QUESTIONS) };
        }
    }
}

export interface EvalQuestion {
    question: string;
    key: string;
    expected: string;
    /** The right answer in organism's words. */
    answer: string;
    depth: number;
    /** Other values in the document, and whose they are: how a wrong answer is told apart. */
    others: { digits: string; label: string }[];
}

/** A chat ready to ask: its document and questions. */
export interface EvalChat {
    task: EvalTaskName;
    contextTokens: number;
    chat: number;
    document: PromptDocument;
    questions: EvalQuestion[];
}

/** The questions of a chat, with what a right answer holds and which other values could be confused with it. */
export function evalQuestions(spec: EvalChatSpec, depths: readonly number[]): EvalQuestion[] {
    return spec.asked.map((i) => {
        const fact = spec.facts[i] ?? { key: '', digits: '', depth: 0 };
        const needle = needleFor(fact.key, fact.digits);
        const others = spec.facts.filter((_, j) => j !== i).map((other) => ({ digits: other.digits, label: other.key === fact.key ? 'earlier value' : other.key }));
        return { question: needle.question, key: fact.key, expected: fact.digits, answer: `${needle.answerPrefix}${fact.digits}.`, depth: depths[i] ?? fact.depth, others };
    });
}

/**
 * The chat's document: filler on which the facts are placed, sized so that its last turn and that
 * turn's answer fit in a context of `contextTokens` (the answers before it counted at the longest
 * an answer may run).
 */
export async function buildEvalChat(
    model: LlamaModel, filler: string, spec: EvalChatSpec, contextTokens: number, chat: number, random: () => number,
): Promise<EvalChat> {
    const planned = evalQuestions(spec, spec.facts.map((f) => f.depth));
    const earlier: EarlierTurn[] = planned.slice(0, -1).map((q) => ({ question: q.question, answer: q.answer }));
    const header = documentBlock({ name: EVAL_DOCUMENT_NAME, text: '' });
    const overhead = (await chatPromptTokens(model, header, planned.at(-1)?.question ?? '', earlier)).length;
    // A wrong answer may run to the limit; the rendered estimate counts the right one.
    const longer = earlier.reduce((sum, turn) => sum + Math.max(0, EVAL_ANSWER_TOKENS - model.tokenize(turn.answer).length), 0);
    const documentTokens = contextTokens - EVAL_ANSWER_TOKENS - overhead - longer - PROMPT_SLACK_TOKENS;
    const built = buildEvalDocument(model, filler, spec, documentTokens, random);
    return { task: spec.task, contextTokens, chat, document: { name: EVAL_DOCUMENT_NAME, text: built.document }, questions: evalQuestions(spec, built.depths) };
}

/** The spec's facts placed in filler of `documentTokens` tokens; each fact's depth as placed. */
export function buildEvalDocument(tokenizer: TextTokenizer, filler: string, spec: EvalChatSpec, documentTokens: number, random: () => number): { document: string; depths: number[] } {
    const built = buildDocument(tokenizer, filler, spec.facts.map((f) => ({ text: needleFor(f.key, f.digits).fact, depth: f.depth })), documentTokens, random);
    return { document: built.document, depths: built.facts.map((f) => f.actualDepth) };
}

/** Each task and length its own stream: adding a task or a length changes no other's chats. */
export function evalStream(seed: number, task: EvalTaskName, contextTokens: number): () => number {
    let h = Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1);
    h = Math.imul(h ^ (EVAL_TASKS.indexOf(task) + 1), 0x85ebca6b);
    h = Math.imul(h ^ contextTokens, 0xc2b2ae35);
    return seededRandom((h ^ (h >>> 16)) >>> 0);
}

export interface EvalGrid {
    tasks: readonly EvalTaskName[];
    /** Chats per task and length. */
    chats: number;
    seed: number;
    /** A bundled filler, or a text file's path; the LGPL-2.1 by default. */
    filler?: Filler | string;
}

/** The name a grid's filler goes by in results. */
export const evalFillerName = (grid: Pick<EvalGrid, 'filler'>): string => fillerName(grid.filler ?? EVAL_FILLER);

/** Every chat of the grid at one length, task by task. */
export async function buildEvalChats(model: LlamaModel, grid: EvalGrid, contextTokens: number): Promise<EvalChat[]> {
    const filler = loadFiller(grid.filler ?? EVAL_FILLER);
    const chats: EvalChat[] = [];
    for (const task of grid.tasks) {
        const random = evalStream(grid.seed, task, contextTokens);
        for (let chat = 0; chat < grid.chats; chat++) {
            chats.push(await buildEvalChat(model, filler, evalChatSpec(task, random, chat, grid.chats), contextTokens, chat, random));
        }
    }
    return chats;
}

/** One turn of a chat, as the app sends it: the documents, the turns before, the question. */
export interface EvalTurn {
    documents: PromptDocument[];
    history: ChatMessage[];
    prompt: string;
    maxTokens: number;
}

export interface EvalReply {
    text: string;
    promptTokens: number;
    reusedTokens: number;
}

/** How a turn is asked: the engine host's generate.run (bench/eval.ts), or generateChat in this process (chatAsker). */
export type AskTurn = (turn: EvalTurn) => Promise<EvalReply>;

/** Scores an answer: right when it holds the expected digits; else whose digits, if any, it gave. */
export function scoreAnswer(question: EvalQuestion, answer: string): { correct: boolean; confusedWith: string | null } {
    if (answer.includes(question.expected)) return { correct: true, confusedWith: null };
    return { correct: false, confusedWith: question.others.find((other) => answer.includes(other.digits))?.label ?? null };
}

/** Asks every chat, each question a turn after the ones before (with their answers as the model gave them). */
export async function runEvalChats(chats: readonly EvalChat[], ask: AskTurn, onAnswer?: (answer: EvalAnswer, done: number, total: number) => void): Promise<EvalAnswer[]> {
    const total = chats.reduce((sum, chat) => sum + chat.questions.length, 0);
    const answers: EvalAnswer[] = [];
    for (const chat of chats) {
        const history: ChatMessage[] = [];
        for (const [turn, question] of chat.questions.entries()) {
            const reply = await ask({ documents: [chat.document], history: [...history], prompt: question.question, maxTokens: EVAL_ANSWER_TOKENS });
            const answer: EvalAnswer = {
                task: chat.task, contextTokens: chat.contextTokens, chat: chat.chat, turn, key: question.key, expected: question.expected,
                answer: reply.text, ...scoreAnswer(question, reply.text), depth: question.depth, promptTokens: reply.promptTokens, reusedTokens: reply.reusedTokens,
            };
            answers.push(answer);
            onAnswer?.(answer, answers.length, total);
            history.push({ role: 'user', text: question.question }, { role: 'assistant', text: reply.text });
        }
    }
    return answers;
}

/**
 * Turns asked with the engine's own generateChat on a chat session of this sequence, as the
 * engine host answers generate.run (what the sequence holds is reused; with the head-level cache
 * a full context stops the reply instead of shifting it).
 */
export async function chatAsker(sequence: LlamaContextSequence, compressed: boolean): Promise<{ ask: AskTurn; dispose: () => void }> {
    const { lib } = await runtime.get();
    let abort = new AbortController();
    const contextShift = compressed ? { strategy: ({ chatHistory }: { chatHistory: readonly ChatHistoryItem[] }) => {
        abort.abort();
        return { chatHistory: [...chatHistory], metadata: null };
    } } : undefined;
    const session = new lib.LlamaChatSession({ contextSequence: sequence, autoDisposeSequence: false, ...(contextShift != null ? { contextShift } : {}) });
    let turns = 0;
    const ask: AskTurn = async (turn) => {
        abort = new AbortController();
        const reply = await generateChat(session, { generationId: `eval-${turns++}`, ...turn }, {
            signal: abort.signal, onChunk: () => undefined, onToken: () => undefined, onPrefill: () => undefined,
        }, compressed);
        return { text: reply.text, promptTokens: reply.prefill.tokens, reusedTokens: reply.prefill.reusedTokens };
    };
    return { ask, dispose: () => session.dispose({ disposeSequence: false }) };
}
