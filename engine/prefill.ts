// Bringing a sequence up to a prompt before the reply: in chunks, so the window can show
// "reading document… n / N"; reusing what the sequence already holds; restoring the documents'
// KV state from disk when asked, or saving it right after the documents.
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import type { LlamaContextSequence, Token } from 'node-llama-cpp';
import type { Params, PrefillInfo } from '../common/contract.ts';

// Prefill in steps of this many tokens: fine enough for a smooth progress bar, coarse
// enough that the per-call overhead stays negligible next to the evaluation itself.
const PREFILL_CHUNK_TOKENS = 256;

/**
 * Where each sequence's last prefill ended. The head-level cache keeps its streaming heads' window
 * before the end of every prompt (a batch of more than one token), so a sequence can go back there
 * in place; further back, or to a point inside the reply, those heads no longer hold what the next
 * token needs, and llama.cpp refuses (node-llama-cpp then reads everything again).
 */
const promptEnds = new WeakMap<LlamaContextSequence, number>();

/**
 * Evaluates all but the last of `tokens` (the chat session evaluates that one as it starts to generate).
 * `keepsPromptWindow`: the sequence's cache is the head-level one, which can go back to the last prompt's end only.
 */
export async function prefill(
    sequence: LlamaContextSequence, tokens: Token[], documentTokens: number, snapshot: Params<'generate.run'>['snapshot'],
    run: { signal: AbortSignal; onPrefill: (done: number, total: number) => void; keepsPromptWindow?: boolean },
): Promise<PrefillInfo> {
    const started = performance.now();
    const readBefore = sequence.tokenMeter.usedInputTokens;
    const target = tokens.slice(0, -1);
    let state: PrefillInfo['snapshot'] = 'none';
    let shared = sequence.compareContextTokens(target).firstDifferentIndex;
    // The last reply renders differently from how it was generated (its text is tokenized again,
    // reasoning is dropped): with the head-level cache, go back to where its prompt ended instead.
    const promptEnd = promptEnds.get(sequence);
    if (run.keepsPromptWindow === true && promptEnd != null && shared > promptEnd && shared < sequence.nextTokenIndex) shared = promptEnd;
    if (snapshot?.restore && documentTokens > 0 && shared < documentTokens) {
        try {
            await sequence.loadStateFromFile(snapshot.file, { acceptRisk: true });
            state = 'restored';
        } catch {
            await sequence.clearHistory(); // a missing or damaged snapshot: read the documents again
        }
        shared = sequence.compareContextTokens(target).firstDifferentIndex;
    }
    if (shared < sequence.nextTokenIndex) await sequence.eraseContextTokenRanges([{ start: shared, end: sequence.nextTokenIndex }]);
    const saveTo = snapshot != null && !snapshot.restore && documentTokens > 0 ? snapshot.file : null;
    const save = async (file: string) => {
        await mkdir(path.dirname(file), { recursive: true });
        const partial = `${file}.partial`;
        await sequence.saveStateToFile(partial);
        await rename(partial, file); // never a half-written snapshot under the real name
        state = 'saved';
    };
    run.onPrefill(shared, target.length);
    for (let at = shared; at < target.length && !run.signal.aborted;) {
        let end = Math.min(target.length, at + PREFILL_CHUNK_TOKENS);
        if (saveTo != null && at < documentTokens && end > documentTokens) end = documentTokens;
        // never a last step of one token: the prompt's end is where a multi-token batch ends
        if (target.length - end === 1) end = target.length;
        await sequence.evaluateWithoutGeneratingNewTokens(target.slice(at, end));
        if (end - at > 1) promptEnds.set(sequence, end);
        at = end;
        run.onPrefill(at, target.length);
        if (saveTo != null && at === documentTokens) await save(saveTo);
    }
    // The documents were already in the sequence (an earlier turn): save what it holds.
    if (saveTo != null && state === 'none' && !run.signal.aborted) await save(saveTo);
    const read = sequence.tokenMeter.usedInputTokens - readBefore;
    return {
        tokens: tokens.length,
        reusedTokens: Math.max(0, target.length - read),
        ms: performance.now() - started,
        snapshot: state,
        originalPrefillMs: null,
    };
}
