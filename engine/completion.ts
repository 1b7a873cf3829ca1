// A turn on a model without a chat template: documents, then the running text, continued as
// plain completion. Like a chat turn it never drops the start to make room: the prompt must
// leave room for a reply, the reply is capped at the room left, and node-llama-cpp's context
// shift (which would erase the first tokens, often the document) is off. The prompt is read
// the way a chat turn's is (prefill.ts: in steps with progress, reusing what the sequence holds,
// the documents' KV state saved and restored), token for token as LlamaCompletion reads it, so
// the completion finds it all evaluated and only generates.
import type { LlamaCompletion, LlamaContextSequence, Token } from 'node-llama-cpp';
import { documentsSystemText } from '../common/documentPrompt.ts';
import { MIN_REPLY_TOKENS, promptTooLong, samplingOptions, sharedPrefix, stopReasonOf, type GenerateRequest, type GenerateResult, type GenerationRun } from './chat.ts';
import { prefill } from './prefill.ts';

const DEFAULT_COMPLETION_TOKENS = 256;

/**
 * The tokens LlamaCompletion evaluates for `text`: the beginning-of-sequence token where the
 * vocabulary prepends one (node-llama-cpp's resolveBeginningTokenToPrepend), then the text,
 * tokenized with its leading space trimmed after that token. `text` is the tokens handed to it.
 */
function completionTokens(sequence: LlamaContextSequence, text: string): { prompt: Token[]; text: Token[] } {
    const { model } = sequence;
    const type = String(model.vocabularyType);
    const bos = type === 'rwkv' || type === 'ugm' ? null : type === 'wpm' || model.tokens.shouldPrependBosToken ? model.tokens.bos : null;
    const tokens = model.tokenize(text, false, bos != null ? 'trimLeadingSpace' : undefined);
    return { prompt: bos != null ? [bos, ...tokens] : tokens, text: tokens };
}

/** `completion` continues text on `sequence`. */
export async function generateCompletion(completion: LlamaCompletion, sequence: LlamaContextSequence, request: GenerateRequest, run: GenerationRun): Promise<GenerateResult> {
    const { documents, history, prompt, maxTokens, snapshot } = request;
    const system = documentsSystemText(documents);
    const head = system != null ? `${system}\n\n` : '';
    const transcript = [head, ...history.map((m) => m.text), prompt].join('');
    const tokens = completionTokens(sequence, transcript);
    const contextSize = sequence.context.contextSize;
    if (tokens.prompt.length + MIN_REPLY_TOKENS > contextSize) throw promptTooLong(tokens.prompt.length, contextSize);
    const documentTokens = head === '' ? 0 : sharedPrefix(completionTokens(sequence, head).prompt, tokens.prompt);
    const read = await prefill(sequence, tokens.prompt, documentTokens, snapshot, run);
    const room = contextSize - tokens.prompt.length;
    const limit = maxTokens ?? DEFAULT_COMPLETION_TOKENS;
    if (run.signal.aborted) return { text: '', stopReason: 'aborted', prefill: read };
    const reply = await completion.generateCompletionWithMeta(tokens.text, {
        onTextChunk: run.onChunk, onToken: run.onToken, signal: run.signal, stopOnAbortSignal: true,
        maxTokens: Math.min(limit, room), ...samplingOptions(request.sampling),
        disableContextShift: true,
    });
    return { text: reply.response, stopReason: stopReasonOf(reply.metadata.stopReason, limit < room), prefill: read };
}
