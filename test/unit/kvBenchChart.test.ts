// bench:kv's chart: a run over several cache types draws each type's modes as their own series.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kvBenchSvg } from '../../bench/kvBench.ts';
import { KvBenchResult } from '../../bench/results.ts';

const run = (mode: string, kvType: string, cpu: number) => ({
    mode, kvType, budget: mode === 'off' ? 1 : 0.25, contextTokens: 2048, kvBytes: { gpu: 0, cpu }, kvBytesFormula: { gpu: 0, cpu },
    kvBuffers: [], fullHeads: 1, totalHeads: 4, headOrder: null, prefillTokPerSec: 10, decodeTokPerSec: 5,
});

test('one series per cache type and mode when the run has several types; modes alone otherwise', () => {
    const several = KvBenchResult.parse({
        model: 'm.gguf', device: 'cpu', createdAt: new Date(0).toISOString(), skipped: [],
        runs: [run('off', 'f16', 4), run('budget 0.25', 'f16', 1), run('off', 'q8_0', 2), run('budget 0.25', 'q8_0', 1)],
    });
    const svg = kvBenchSvg(several);
    for (const name of ['f16 off', 'f16 budget 0.25', 'q8_0 off', 'q8_0 budget 0.25']) assert.ok(svg.includes(`>${name}<`), name);
    const one = kvBenchSvg({ ...several, runs: several.runs.filter((r) => r.kvType === 'f16') });
    assert.ok(one.includes('>off<') && one.includes('>budget 0.25<') && !one.includes('f16 off'));
});

test('the title names the device without its thread count or host, whatever commas its name has', () => {
    const result = (device: string) => KvBenchResult.parse({ model: 'm.gguf', device, createdAt: new Date(0).toISOString(), skipped: [], runs: [run('off', 'f16', 4)] });
    assert.ok(kvBenchSvg(result('cpu: AMD EPYC, 2 threads (2 cores)')).includes('KV cache modes: m.gguf on cpu: AMD EPYC<'));
    assert.ok(kvBenchSvg(result('gpu: llvmpipe (LLVM 15.0.6, 256 bits) (host AMD EPYC)')).includes('on gpu: llvmpipe (LLVM 15.0.6, 256 bits)<'));
});
