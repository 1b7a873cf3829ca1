// What the model is sent of a conversation, and how a finished reply is stored.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MessageStatus, StoredMessage } from '../../common/contract.ts';
import { finishedStatus, historyOf } from '../../backend/chats.ts';
import { promptTooLong, sharedPrefix, stopReasonOf, toChatHistory } from '../../engine/chat.ts';

let seq = 0;
const message = (role: 'user' | 'assistant', text: string, status: MessageStatus = 'done'): StoredMessage =>
    ({ id: `m${++seq}`, chatId: 'c1', role, text, status, error: status === 'error' ? 'it failed' : null, createdAt: seq });

describe('history building', () => {
    test('finished turns are a question and its reply, stopped and cut-off replies included', () => {
        const history = historyOf([
            message('user', 'Q1'), message('assistant', 'A1'),
            message('user', 'Q2'), message('assistant', 'A2 (stopped)', 'stopped'),
            message('user', 'Q3'), message('assistant', 'A3 (full)', 'contextFull'),
            message('user', 'Q4'), message('assistant', 'A4 (cut off)', 'interrupted'),
        ]);
        assert.deepEqual(history.map((m) => `${m.role}:${m.text}`), [
            'user:Q1', 'assistant:A1', 'user:Q2', 'assistant:A2 (stopped)', 'user:Q3', 'assistant:A3 (full)', 'user:Q4', 'assistant:A4 (cut off)',
        ]);
    });

    test('a failed or unfinished reply leaves its question out; a question without a reply too', () => {
        const history = historyOf([
            message('user', 'Q1'), message('assistant', '', 'error'),
            message('user', 'Q2'), message('assistant', 'A2'),
            message('user', 'Q3'), message('assistant', 'A3 so f', 'streaming'),
            message('user', 'Q4'),
        ]);
        assert.deepEqual(history.map((m) => m.text), ['Q2', 'A2']);
        assert.deepEqual(historyOf([message('user', 'Q1'), message('user', 'Q1 again'), message('assistant', 'A')]).map((m) => m.text), ['Q1 again', 'A']);
        assert.deepEqual(historyOf([]), []);
    });

    test('as node-llama-cpp\'s chat history', () => {
        assert.deepEqual(toChatHistory([{ role: 'user', text: 'Hi' }, { role: 'assistant', text: 'Hello' }]), [
            { type: 'user', text: 'Hi' }, { type: 'model', response: ['Hello'] },
        ]);
    });
});

describe('finish status', () => {
    test('a reply the model ended is done; stopped is stopped; out of room is a full context; at the chat\'s longest reply, said so', () => {
        assert.equal(finishedStatus('eos'), 'done');
        assert.equal(finishedStatus('aborted'), 'stopped');
        assert.equal(finishedStatus('contextFull'), 'contextFull');
        assert.equal(finishedStatus('maxTokens'), 'replyLimit');
    });

    test('node-llama-cpp\'s stop reasons in the contract\'s words', () => {
        assert.equal(stopReasonOf('abort'), 'aborted');
        assert.equal(stopReasonOf('maxTokens'), 'maxTokens');
        assert.equal(stopReasonOf('maxTokens', false), 'contextFull', 'the room left in the context, not a limit asked for');
        assert.equal(stopReasonOf('eogToken'), 'eos');
        assert.equal(stopReasonOf('stopGenerationTrigger'), 'eos');
    });
});

describe('shared prefix', () => {
    test('counts the leading tokens two renderings share', () => {
        assert.equal(sharedPrefix([1, 2, 3, 4], [1, 2, 9, 4]), 2);
        assert.equal(sharedPrefix([1, 2, 3], [1, 2, 3, 4, 5]), 3, 'all of the shorter one');
        assert.equal(sharedPrefix([7], [8]), 0);
        assert.equal(sharedPrefix([], [1]), 0);
    });

    test('a prompt with no room for a reply is refused with its size', () => {
        assert.equal(promptTooLong(5000, 4096).message, 'This chat needs 5,000 tokens plus room for a reply, but the context holds 4,096. Load the model with a larger context size, or remove a document.');
    });
});
