// How the window learns why the engine host stopped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeExit } from '../../backend/host/hostProcess.ts';

test('out-of-memory exits are named as such; anything else is a crash, and the conversation is kept', () => {
    const oom = describeExit({ code: 134, signal: null, stderrTail: 'ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer of size 68719476736' });
    assert.equal(oom.code, 'ENGINE_OUT_OF_MEMORY');
    assert.match(oom.message, /^The engine ran out of memory and stopped \(exit code 134\)\. Your conversation is kept\. Try a smaller context size/);
    const killed = describeExit({ code: null, signal: 'SIGKILL', stderrTail: '' });
    assert.deepEqual(killed, { code: 'ENGINE_CRASHED', message: 'The engine stopped unexpectedly (signal SIGKILL). Your conversation is kept; restart the engine to continue.' });
    assert.equal(describeExit({ code: 1, signal: null, stderrTail: 'CUDA error: out of memory' }).code, 'ENGINE_OUT_OF_MEMORY');
});
