// Putting a document and a question through the model's own chat template: as a live chat
// (for answers) and as tokens (for scoring an expected answer's log-probability).
import type { ChatHistoryItem, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { getRuntime } from './engineAdapter.ts';
import type { Needle } from './haystack.ts';

/** Greedy answer to `question` with `document` as the system message, on a cleared sequence. */
export async function askAboutDocument(
    sequence: LlamaContextSequence, document: string, question: string, maxTokens = 32,
): Promise<string> {
    const { lib } = await getRuntime();
    await sequence.clearHistory();
    const session = new lib.LlamaChatSession({ contextSequence: sequence, systemPrompt: document, autoDisposeSequence: false });
    try {
        return await session.prompt(question, { temperature: 0, maxTokens });
    } finally {
        session.dispose({ disposeSequence: false });
    }
}

/** The prompt tokens the chat template makes of a system document and one user question. */
export async function chatPromptTokens(model: LlamaModel, document: string, question: string): Promise<Token[]> {
    const { lib } = await getRuntime();
    const wrapper = lib.resolveChatWrapper(model);
    const history: ChatHistoryItem[] = [
        { type: 'system', text: document },
        { type: 'user', text: question },
        { type: 'model', response: [] },
    ];
    const { contextText } = wrapper.generateContextState({ chatHistory: history });
    return contextText.tokenize(model.tokenizer);
}

export interface AnswerScore {
    /** Sum of the log-probabilities of the needle's digits, teacher-forced after the answer prefix. */
    logProb: number;
    /** Whether greedy decoding would produce every digit. */
    correct: boolean;
}

/**
 * Scores a needle's digits given prompt tokens: one evaluation of prompt + answer prefix +
 * digits, reading the next-token distribution at each digit.
 */
export async function scoreAnswer(sequence: LlamaContextSequence, promptTokens: Token[], needle: Needle): Promise<AnswerScore> {
    const model = sequence.model;
    const prefixTokens = model.tokenize(needle.answerPrefix);
    const answerTokens = model.tokenize(needle.answerPrefix + needle.digits).slice(prefixTokens.length);
    const tokens = [...promptTokens, ...prefixTokens, ...answerTokens];
    const firstScored = promptTokens.length + prefixTokens.length - 1;
    await sequence.clearHistory();
    const outputs = await sequence.controlledEvaluate(tokens.map((token, index) =>
        index >= firstScored && index < tokens.length - 1
            ? [token, { generateNext: { probabilities: true } }]
            : token));
    let logProb = 0;
    let correct = true;
    for (let i = 0; i < answerTokens.length; i++) {
        const next = outputs[firstScored + i]?.next;
        const probabilities = next?.probabilities;
        if (probabilities == null) throw new Error('llama.cpp returned no probabilities');
        const p = probabilities.get(answerTokens[i]) ?? 0;
        logProb += Math.log(Math.max(p, 1e-12));
        const top = probabilities.entries().next().value?.[0];
        if (top !== answerTokens[i]) correct = false;
    }
    return { logProb, correct };
}
