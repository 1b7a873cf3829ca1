// A turn on a model without a chat template: documents, then the running text, continued as
// plain completion. Like a chat turn it never drops the start to make room: the prompt must
// leave room for a reply, the reply is capped at the room left, and node-llama-cpp's context
// shift (which would erase the first tokens, often the document) is off.
import type { LlamaCompletion, LlamaContextSequence } from 'node-llama-cpp';
import { documentsSystemText } from '../common/documentPrompt.ts';
import { MIN_REPLY_TOKENS, promptTooLong, stopReasonOf, type GenerateRequest, type GenerateResult, type GenerationRun } from './chat.ts';

const DEFAULT_COMPLETION_TOKENS = 256;

/** `completion` continues text on `sequence`. */
export async function generateCompletion(completion: LlamaCompletion, sequence: LlamaContextSequence, request: GenerateRequest, run: GenerationRun): Promise<GenerateResult> {
    const { documents, history, prompt, maxTokens } = request;
    const system = documentsSystemText(documents);
    const transcript = [...(system != null ? [`${system}\n\n`] : []), ...history.map((m) => m.text), prompt].join('');
    const tokens = sequence.model.tokenize(transcript).length;
    const contextSize = sequence.context.contextSize;
    if (tokens + MIN_REPLY_TOKENS > contextSize) throw promptTooLong(tokens, contextSize);
    const started = performance.now();
    const reply = await completion.generateCompletionWithMeta(transcript, {
        onTextChunk: run.onChunk, onToken: run.onToken, signal: run.signal, stopOnAbortSignal: true,
        maxTokens: Math.min(maxTokens ?? DEFAULT_COMPLETION_TOKENS, contextSize - tokens), temperature: 0,
        disableContextShift: true,
    });
    return {
        text: reply.response,
        stopReason: stopReasonOf(reply.metadata.stopReason),
        prefill: { tokens, reusedTokens: 0, ms: performance.now() - started, snapshot: 'none', originalPrefillMs: null },
    };
}
