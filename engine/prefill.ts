// Bringing a sequence up to a prompt before the reply: in chunks, so the window can show
// "reading document… n / N"; reusing what the sequence already holds; restoring the documents'
// KV state from disk when asked and it checks out (engine/snapshot.ts), or saving it right after
// the documents. A snapshot that cannot be used or saved costs time, never the reply.
import type { LlamaContextSequence, Token } from 'node-llama-cpp';
import type { Params, PrefillInfo } from '../common/contract.ts';
import { errorMessage } from '../common/errors.ts';
import { restoreSnapshot, saveSnapshot } from './snapshot.ts';

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
    run: {
        signal: AbortSignal; onPrefill: (done: number, total: number) => void; keepsPromptWindow?: boolean;
        /** What a snapshot is saved with and must match to be restored: the model file's identity and the cache's layout. */
        snapshotModel?: () => Promise<string>;
    },
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
    let saveTo = snapshot != null && !snapshot.restore && documentTokens > 0 ? snapshot.file : null;
    const model = run.snapshotModel ?? (() => Promise.reject(new Error('no model identity was given for snapshots')));
    if (snapshot?.restore && documentTokens > 0 && shared < documentTokens) {
        try {
            await restoreSnapshot(sequence, snapshot.file, await model());
            state = 'restored';
        } catch (error) {
            // Missing, damaged, cut short, another model's: read the documents again, and save them anew.
            console.error(`Headroom: ${errorMessage(error)}; reading the documents again.`);
            await sequence.clearHistory();
            saveTo = snapshot.file;
        }
        shared = sequence.compareContextTokens(target).firstDifferentIndex;
    }
    if (shared < sequence.nextTokenIndex) await sequence.eraseContextTokenRanges([{ start: shared, end: sequence.nextTokenIndex }]);
    const save = async (file: string) => {
        try {
            await saveSnapshot(sequence, file, await model());
            state = 'saved';
        } catch (error) {
            console.error(`Headroom: the KV snapshot ${file} could not be saved (${errorMessage(error)}); the chat goes on without it.`);
            saveTo = null;
        }
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
