// A chat turn on a model with a chat template: the conversation is rendered exactly as the chat
// session renders it, what the sequence already holds is reused, the documents are prefilled
// with progress (and saved or restored), and the reply streams until the model ends it or the
// context is full. Never a context shift: see Engine's refuseContextShift.
import type { ChatHistoryItem, LLamaChatPromptOptions, LlamaChatSession } from 'node-llama-cpp';
import type { ChatMessage, Params, Result, StopReason } from '../common/contract.ts';
import { documentsSystemText } from '../common/documentPrompt.ts';
import { HeadroomError } from '../common/errors.ts';
import { prefill } from './prefill.ts';

export type GenerateRequest = Params<'generate.run'>;
export type GenerateResult = Result<'generate.run'>;

/** One reply being generated: who hears its progress, and the signal that stops it. */
export interface GenerationRun {
    signal: AbortSignal;
    onChunk: (text: string) => void;
    onToken: (tokens: readonly unknown[]) => void;
    onPrefill: (done: number, total: number) => void;
    /** The key a documents' KV snapshot is saved with and checked against (prefill.ts); asked only when a snapshot is used. */
    snapshotModel?: () => Promise<string>;
}

// Room a reply needs at the least; a prompt that leaves less is refused, never cut.
export const MIN_REPLY_TOKENS = 16;

const fmt = (n: number) => n.toLocaleString('en-US');

/** The refusal of a prompt that leaves no room for a reply. */
export function promptTooLong(tokens: number, contextSize: number): HeadroomError {
    return new HeadroomError('CONTEXT_OVERFLOW', `This chat needs ${fmt(tokens)} tokens plus room for a reply, but the context holds ${fmt(contextSize)}. Load the model with a larger context size, or remove a document.`);
}

/** A reply that ran out of context while compression forbade a shift. */
export function contextOverflow(contextSize: number): HeadroomError {
    return new HeadroomError('CONTEXT_OVERFLOW', `The conversation no longer fits in the ${fmt(contextSize)}-token context. With head-level KV compression on, Headroom does not drop the start of the conversation to make room: start a new chat, or load the model with a larger context.`);
}

/** How many leading tokens two token lists share. */
export function sharedPrefix<T>(a: readonly T[], b: readonly T[]): number {
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    return i;
}

export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
    return messages.map((m) => m.role === 'user'
        ? { type: 'user', text: m.text }
        : { type: 'model', response: [m.text] });
}

/** node-llama-cpp's stop reason in the contract's words; `limited`: the token limit was the one asked for, not the room left in the context. */
export function stopReasonOf(reason: string, limited = true): StopReason {
    if (reason === 'abort') return 'aborted';
    if (reason === 'maxTokens') return limited ? 'maxTokens' : 'contextFull';
    return 'eos';
}

/** node-llama-cpp's prompt options for a chat's sampling; none given: greedy, as before chats had their own. */
export function samplingOptions(sampling: GenerateRequest['sampling']): Pick<LLamaChatPromptOptions, 'temperature' | 'topP' | 'topK' | 'minP' | 'repeatPenalty'> {
    if (sampling == null) return { temperature: 0 };
    const { temperature, topP, topK, minP, repeatPenalty } = sampling;
    return { temperature, topP, topK, minP, repeatPenalty: repeatPenalty > 1 ? { penalty: repeatPenalty } : false };
}

/** `compressed`: the sequence's cache is the head-level one (see prefill's keepsPromptWindow). */
export async function generateChat(chat: LlamaChatSession, request: GenerateRequest, run: GenerationRun, compressed = false): Promise<GenerateResult> {
    const { documents, history, prompt, maxTokens, snapshot, sampling } = request;
    const model = chat.sequence.model;
    // The documents first, then the chat's own instructions: a new system prompt leaves the documents' cached state usable.
    const documentsText = documentsSystemText(documents);
    const instructions = request.systemPrompt?.trim() ?? '';
    const system = [documentsText, instructions === '' ? null : instructions].filter((part) => part != null).join('\n\n') || null;
    const chatHistory: ChatHistoryItem[] = [...(system != null ? [{ type: 'system' as const, text: system }] : []), ...toChatHistory(history)];
    // The tokens the chat session will evaluate, rendered exactly as it renders them.
    const render = (items: ChatHistoryItem[]) => chat.chatWrapper.generateContextState({ chatHistory: items }).contextText.tokenize(model.tokenizer);
    const promptTokens = render([...chatHistory, { type: 'user', text: prompt }, { type: 'model', response: [] }]);
    const contextSize = chat.sequence.context.contextSize;
    if (promptTokens.length + MIN_REPLY_TOKENS > contextSize) throw promptTooLong(promptTokens.length, contextSize);
    const room = contextSize - promptTokens.length;
    const documentTokens = documentsText == null ? 0 : sharedPrefix(render([{ type: 'system', text: documentsText }]), promptTokens);
    const read = await prefill(chat.sequence, promptTokens, documentTokens, snapshot, { ...run, keepsPromptWindow: compressed });
    if (run.signal.aborted) return { text: '', stopReason: 'aborted', prefill: read };
    chat.setChatHistory(chatHistory);
    const reply = await chat.promptWithMeta(prompt, {
        onTextChunk: run.onChunk, onToken: run.onToken, signal: run.signal, stopOnAbortSignal: true,
        ...samplingOptions(sampling),
        maxTokens: Math.min(maxTokens ?? room, room),
    });
    return { text: reply.responseText, stopReason: stopReasonOf(reply.stopReason, maxTokens != null && maxTokens < room), prefill: read };
}
