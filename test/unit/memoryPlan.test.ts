// The pure parts of the memory plan: a model's KV shape from its metadata, and whether needs fit
// a machine (the planner's verdict, here on machines of every size).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { contextCellsFor, kvCacheTypeRefusal, kvShapeFromMetadata, supportsKvCacheType } from '../../common/modelShape.ts';
import { machineVerdict, type Machine } from '../../common/plan.ts';

const GIB = 1 << 30;
const machine = (ramFree: number, vramFree = 0): Machine => ({ gpu: vramFree > 0 ? 'cuda' : false, vramTotal: vramFree, vramFree, ramTotal: ramFree, ramFree });

describe('the model\'s KV shape', () => {
    const llama8b = { general: { architecture: 'llama' }, llama: { block_count: 32, embedding_length: 4096, attention: { head_count: 32, head_count_kv: 8 } } };

    test('from GGUF metadata, in bytes per head per token for each cache type', () => {
        assert.deepEqual(kvShapeFromMetadata(llama8b, 8192, 512), { layers: 32, kvHeads: 8, bytesPerHeadToken: (128 + 128) * 2, contextCells: 8192, ubatch: 512 });
        assert.equal(kvShapeFromMetadata(llama8b, 8192, 512, 'q8_0')?.bytesPerHeadToken, (256 / 32) * 34, 'q8_0: 34 bytes per 32 values');
        assert.equal(kvShapeFromMetadata(llama8b, 8192, 512, 'q4_0')?.bytesPerHeadToken, (256 / 32) * 18, 'q4_0: 18 bytes per 32 values');
        assert.equal(kvShapeFromMetadata({ general: { architecture: 'rwkv' }, rwkv: { block_count: 24 } }, 8192, 512), null, 'no attention heads, no shape');
    });

    test('Gemma 3: window layers by llama.cpp\'s pattern, a window cache padded to 256 cells, one more token a batch', () => {
        const gemma3 = {
            general: { architecture: 'gemma3' },
            gemma3: { block_count: 12, embedding_length: 640, context_length: 32768, attention: { head_count: 4, head_count_kv: 1, key_length: 256, value_length: 256, sliding_window: 512 } },
        };
        const shape = kvShapeFromMetadata(gemma3, 8192, 128);
        assert.deepEqual(shape?.windowLayers, [true, true, true, true, true, false, true, true, true, true, true, false], 'five window layers, then a global one');
        assert.equal(shape?.ubatch, 129, 'node-llama-cpp evaluates one more token a batch for models with a sliding window');
        assert.equal(shape?.windowCells, 768, 'PAD(512 + 129, 256)');
        const listed = kvShapeFromMetadata({ ...gemma3, gemma3: { ...gemma3.gemma3, attention: { ...gemma3.gemma3.attention, sliding_window_pattern: [true, false, true, false, true, false, true, false, true, false, true, false] } } }, 8192, 128);
        assert.deepEqual(listed?.windowLayers?.filter(Boolean).length, 6, 'a listed pattern wins');
        const phi3 = { general: { architecture: 'phi3' }, phi3: { block_count: 4, embedding_length: 64, context_length: 4096, attention: { head_count: 4, head_count_kv: 4, sliding_window: 2047 } } };
        assert.equal(kvShapeFromMetadata(phi3, 4096, 128)?.windowLayers, undefined, 'llama.cpp ignores phi3\'s window');
        assert.equal(kvShapeFromMetadata(phi3, 4096, 128)?.ubatch, 129, 'node-llama-cpp still adds a token to its batches');
    });

    test('quantized caches need whole blocks per head; contexts are padded to 256 cells', () => {
        assert.equal(supportsKvCacheType({ keyDim: 16, valueDim: 16 }, 'q8_0'), false);
        assert.equal(supportsKvCacheType({ keyDim: 16, valueDim: 16 }, 'q4_0'), false);
        assert.equal(supportsKvCacheType({ keyDim: 16, valueDim: 16 }, 'f16'), true);
        assert.equal(supportsKvCacheType({ keyDim: 128, valueDim: 128 }, 'q8_0'), true);
        assert.match(kvCacheTypeRefusal({ keyDim: 16, valueDim: 16 }, 'q8_0', 'organism') ?? '', /organism's attention heads are 16 values wide, and a q8_0 cache stores values in blocks of 32/);
        assert.deepEqual([contextCellsFor(1000), contextCellsFor(1024), contextCellsFor(1025)], [1024, 1024, 1280]);
    });
});

describe('fits this machine', () => {
    test('within 90% of free RAM fits; beyond it does not, and says how much is needed', () => {
        assert.deepEqual(machineVerdict({ gpuBytes: 0, cpuBytes: 9 * GIB }, machine(10 * GIB)), { gpuFits: true, cpuFits: true, notes: [] });
        const tooBig = machineVerdict({ gpuBytes: 0, cpuBytes: 20 * GIB }, machine(16 * GIB));
        assert.equal(tooBig.cpuFits, false);
        assert.deepEqual(tooBig.notes, ['Needs 20.0 GiB of RAM; 16.0 GiB is free (Headroom leaves 10% spare).']);
    });

    test('GPU memory is judged the same way; nothing asked of the GPU always fits it', () => {
        assert.equal(machineVerdict({ gpuBytes: 0, cpuBytes: 0 }, machine(GIB)).gpuFits, true);
        const gpu = machineVerdict({ gpuBytes: 7.5 * GIB, cpuBytes: 256 << 20 }, machine(GIB, 8 * GIB));
        assert.deepEqual([gpu.gpuFits, gpu.cpuFits], [false, true]);
        assert.deepEqual(gpu.notes, ['Needs 7.5 GiB of GPU memory; 8.0 GiB is free (Headroom leaves 10% spare).']);
        assert.deepEqual(machineVerdict({ gpuBytes: 100 << 20, cpuBytes: 0 }, machine(GIB, 50 << 20)).notes, ['Needs 100 MiB of GPU memory; 50 MiB is free (Headroom leaves 10% spare).']);
    });
});
