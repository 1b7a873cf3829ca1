// Putting a document and a question through the model's own chat template: as a live chat
// (for answers) and as tokens (for scoring an expected answer's log-probability).
import type { ChatHistoryItem, ChatWrapper, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { runtime } from '../runtime.ts';
import type { Haystack, Needle } from './haystack.ts';

/** Greedy answer to `question` with `document` as the system message, on a cleared sequence. */
export async function askAboutDocument(
    sequence: LlamaContextSequence, document: string, question: string, maxTokens = 32,
): Promise<string> {
    const { lib } = await runtime.get();
    await sequence.clearHistory();
    const session = new lib.LlamaChatSession({ contextSequence: sequence, systemPrompt: document, autoDisposeSequence: false, chatWrapper: await chatWrapperOf(sequence.model) });
    try {
        return await session.prompt(question, { temperature: 0, maxTokens });
    } finally {
        session.dispose({ disposeSequence: false });
    }
}

// Resolving a Jinja chat template takes most of a second: once per model is enough.
const wrappers = new WeakMap<LlamaModel, ChatWrapper>();

async function chatWrapperOf(model: LlamaModel): Promise<ChatWrapper> {
    let wrapper = wrappers.get(model);
    if (wrapper == null) {
        const { lib } = await runtime.get();
        wrapper = lib.resolveChatWrapper(model);
        wrappers.set(model, wrapper);
    }
    return wrapper;
}

/** A question asked earlier in the same chat, and its answer. */
export interface EarlierTurn {
    question: string;
    answer: string;
}

/** The prompt tokens the chat template makes of a system document and a user question (after `earlier` turns, if any). */
export async function chatPromptTokens(model: LlamaModel, document: string, question: string, earlier: readonly EarlierTurn[] = []): Promise<Token[]> {
    const wrapper = await chatWrapperOf(model);
    const history: ChatHistoryItem[] = [
        { type: 'system', text: document },
        ...earlier.flatMap((turn): ChatHistoryItem[] => [{ type: 'user', text: turn.question }, { type: 'model', response: [turn.answer] }]),
        { type: 'user', text: question },
        { type: 'model', response: [] },
    ];
    const { contextText } = wrapper.generateContextState({ chatHistory: history });
    return contextText.tokenize(model.tokenizer);
}

export interface ScoredPrompt {
    /** The templated document: everything before the question starts. */
    documentTokens: Token[];
    /** The question, the template's turn markers, the answer's prefix and its digits. */
    tailTokens: Token[];
    /** How many of the tail's last tokens are the digits being scored. */
    answerCount: number;
    /** The needle's fact in the prompt, as token positions [start, end). */
    needle: { start: number; end: number };
}

/** Every token of a scored prompt, document then tail. */
export const promptTokensOf = (prompt: ScoredPrompt): Token[] => [...prompt.documentTokens, ...prompt.tailTokens];

/** The position of the first query whose next token is scored: the last token before the digits. */
export const firstScoredPosition = (prompt: ScoredPrompt): number => prompt.documentTokens.length + prompt.tailTokens.length - prompt.answerCount - 1;

/** How many leading items two token lists share. */
function commonPrefix(a: readonly Token[], b: readonly Token[]): number {
    let n = 0;
    while (n < a.length && n < b.length && a[n] === b[n]) n++;
    return n;
}

/**
 * A needle prompt split where the question begins (found as the first token that differs
 * from the same prompt with another question), with the expected answer appended. The fact's
 * tokens are where the prompt differs from the same prompt without the fact.
 */
export async function scoredPrompt(model: LlamaModel, haystack: Pick<Haystack, 'document' | 'factStart' | 'factEnd'>, needle: Needle): Promise<ScoredPrompt> {
    const { document } = haystack;
    const tokens = await chatPromptTokens(model, document, needle.question);
    const other = await chatPromptTokens(model, document, '?');
    const split = commonPrefix(tokens, other);
    const withoutFact = await chatPromptTokens(model, document.slice(0, haystack.factStart) + document.slice(haystack.factEnd), needle.question);
    const start = commonPrefix(tokens, withoutFact);
    const shared = Math.min(commonPrefix([...tokens].reverse(), [...withoutFact].reverse()), Math.min(tokens.length, withoutFact.length) - start);
    const end = tokens.length - shared;
    const prefix = model.tokenize(needle.answerPrefix);
    const answer = model.tokenize(needle.answerPrefix + needle.digits).slice(prefix.length);
    return {
        documentTokens: tokens.slice(0, split),
        tailTokens: [...tokens.slice(split), ...prefix, ...answer],
        answerCount: answer.length,
        needle: { start, end: Math.max(start + 1, end) },
    };
}

export interface AnswerScore {
    /** Sum of the log-probabilities of the needle's digits, teacher-forced after the answer prefix. */
    logProb: number;
    /** Whether greedy decoding would produce every digit. */
    correct: boolean;
}

/**
 * Evaluates `tokens` after whatever the sequence holds and scores its last `answerCount`
 * tokens: the next-token distribution before each of them.
 */
export async function scoreContinuation(sequence: LlamaContextSequence, tokens: Token[], answerCount: number): Promise<AnswerScore> {
    const firstScored = tokens.length - answerCount - 1;
    const outputs = await sequence.controlledEvaluate(tokens.map((token, index) =>
        index >= firstScored && index < tokens.length - 1 ? [token, { generateNext: { probabilities: true } }] : token));
    let logProb = 0;
    let correct = true;
    for (let i = 0; i < answerCount; i++) {
        const expected = tokens[firstScored + 1 + i];
        const probabilities = outputs[firstScored + i]?.next.probabilities;
        if (probabilities == null || expected == null) throw new Error('llama.cpp returned no probabilities');
        logProb += Math.log(Math.max(probabilities.get(expected) ?? 0, 1e-12));
        if (probabilities.entries().next().value?.[0] !== expected) correct = false;
    }
    return { logProb, correct };
}

/** Scores a whole prompt from an empty sequence. */
export async function scoreAnswer(sequence: LlamaContextSequence, prompt: ScoredPrompt): Promise<AnswerScore> {
    await sequence.clearHistory();
    return scoreContinuation(sequence, promptTokensOf(prompt), prompt.answerCount);
}
