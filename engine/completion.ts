// A turn on a model without a chat template: documents, then the running text, continued as
// plain completion.
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
        maxTokens: maxTokens ?? DEFAULT_COMPLETION_TOKENS, temperature: 0,
    });
    return {
        text: reply.response,
        stopReason: stopReasonOf(reply.metadata.stopReason),
        prefill: { tokens, reusedTokens: 0, ms: performance.now() - started, snapshot: 'none', originalPrefillMs: null },
    };
}
