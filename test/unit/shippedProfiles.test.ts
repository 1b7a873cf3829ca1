// The head profiles Headroom ships (DuoAttention's published gates): every file in the manifest
// reads as a pattern of its model's shape, with its license alongside; a GGUF is matched by its
// name metadata and never when its shape differs.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KvOptions, planFromProfile } from '../../common/kv/policy.ts';
import { readAssetText } from '../../engine/assetText.ts';
import { parseDuoTsv } from '../../engine/profiler/duoAttention.ts';
import { matchShippedPattern, modelNamesOf, patternUrl, shippedManifest, shippedProfileFor } from '../../engine/kv/shippedProfiles.ts';

const folder = fileURLToPath(new URL('../../assets/profiles/duo-attention/', import.meta.url));
const LLAMA_31 = { architecture: 'llama', layers: 32, kvHeads: 8 };

describe('shipped head profiles', () => {
    const { patterns } = shippedManifest();

    test('the six published patterns, each read from its own file at its model\'s shape, under DuoAttention\'s MIT license', () => {
        assert.deepEqual(patterns.map((p) => p.id), [
            'Meta-Llama-3.1-8B-Instruct', 'Mistral-7B-Instruct-v0.2', 'Mistral-7B-Instruct-v0.3',
            'Llama-3-8B-Instruct-Gradient-1048k', 'Llama-3-8B-Instruct-Gradient-4194k', 'Llama-2-7B-32K-Instruct',
        ]);
        for (const pattern of patterns) {
            assert.equal(fileURLToPath(patternUrl(pattern)), `${folder}${pattern.file}`, `${pattern.id}: the manifest and the bundled file agree`);
            const gates = parseDuoTsv(readAssetText(patternUrl(pattern)));
            assert.deepEqual([gates.length, gates[0]?.length], [pattern.layers, pattern.kvHeads], pattern.id);
            assert.ok(gates.flat().every((g) => g >= 0 && g <= 1));
            assert.ok(existsSync(`${folder}${pattern.id}/config.json`), `${pattern.id}: the run's config, for provenance`);
        }
        assert.match(readFileSync(`${folder}LICENSE`, 'utf8'), /^MIT License\n\nCopyright \(c\) 2024 MIT HAN Lab/);
    });

    test('a GGUF\'s names, as publishers and llama.cpp\'s converter write them', () => {
        assert.deepEqual(modelNamesOf({ name: 'Meta Llama 3.1 8B Instruct' }), ['metallama3.18binstruct']);
        assert.deepEqual(modelNamesOf({ basename: 'Meta-Llama-3.1', size_label: '8B', finetune: 'Instruct' }), ['metallama3.18binstruct']);
        assert.ok(modelNamesOf({ name: 'mistralai_Mistral-7B-Instruct-v0.2' }).includes('mistral7binstructv0.2'), 'the publisher\'s prefix');
        assert.ok(modelNamesOf({ name: 'Mistral-7B-Instruct-v0.3-GGUF-Q4_K_M' }).includes('mistral7binstructv0.3'), 'format words');
        assert.deepEqual(modelNamesOf(undefined), []);
    });

    test('a model is matched by name and shape, whatever its quantization; another shape or name never is', () => {
        const match = (general: Record<string, unknown>, kind = LLAMA_31) => matchShippedPattern(patterns, general, kind)?.id ?? null;
        assert.equal(match({ name: 'Meta Llama 3.1 8B Instruct', file_type: 15 }), 'Meta-Llama-3.1-8B-Instruct');
        assert.equal(match({ name: 'Llama 3.1 8B Instruct' }), 'Meta-Llama-3.1-8B-Instruct');
        assert.equal(match({ basename: 'Mistral', size_label: '7B', finetune: 'Instruct', version: 'v0.3' }), 'Mistral-7B-Instruct-v0.3');
        assert.equal(match({ name: 'Llama 2 7B 32K Instruct' }, { architecture: 'llama', layers: 32, kvHeads: 32 }), 'Llama-2-7B-32K-Instruct');
        assert.equal(match({ name: 'Meta Llama 3.1 8B Instruct' }, { ...LLAMA_31, layers: 16 }), null, 'fewer layers');
        assert.equal(match({ name: 'Meta Llama 3.1 8B Instruct' }, { ...LLAMA_31, kvHeads: 4 }), null, 'other KV heads');
        assert.equal(match({ name: 'Meta Llama 3.1 8B Instruct' }, { ...LLAMA_31, architecture: 'qwen2' }), null, 'another architecture');
        assert.equal(match({ name: 'Meta Llama 3.1 70B Instruct' }), null, 'another model of the family');
        assert.equal(match({ name: 'Meta Llama 3.1 8B' }), null, 'the base model: the gates were learned on the instruct one');
        assert.equal(match({}), null);
    });

    test('a matched model gets DuoAttention\'s gates as its profile, half the cache, named for where it came from', () => {
        const found = shippedProfileFor('a'.repeat(64), { name: 'Meta Llama 3.1 8B Instruct' }, LLAMA_31);
        assert.ok(found != null);
        assert.equal(found.origin, 'shipped');
        assert.deepEqual([found.profile.source, found.profile.pattern, found.profile.recommendedBudget], ['duo-attention', 'meta-llama/Meta-Llama-3.1-8B-Instruct', 0.5]);
        assert.equal(found.profile.scores.length, 32);
        assert.equal(found.profile.scores.flat().filter((g) => g > 0).length > 0, true);
        assert.equal(found.profile.fullHeads, 128, 'DuoAttention\'s gated set: the top half of 256 heads by gate');
    });

    test('auto keeps the same full heads of a shipped pattern at 4K and at 32K tokens, and the bytes follow', () => {
        const found = shippedProfileFor('a'.repeat(64), { name: 'Meta Llama 3.1 8B Instruct' }, LLAMA_31);
        assert.ok(found != null);
        const at = (contextCells: number) => {
            const shape = { layers: 32, kvHeads: 8, bytesPerHeadToken: 512, contextCells, ubatch: 128 };
            const resolved = planFromProfile(KvOptions.parse({ mode: 'auto' }), shape, 'gpu', found);
            assert.ok(resolved != null);
            return { full: resolved.plan.policy.flatMap((row, layer) => row.flatMap((p, head) => (p === 'full' ? [`${layer}:${head}`] : []))), budget: resolved.budget };
        };
        const short = at(4096);
        const long = at(32768);
        assert.equal(short.full.length, 128);
        assert.deepEqual(short.full, long.full, 'the gated set at both lengths');
        assert.ok(short.budget > long.budget, `a streaming head is a larger share of a short cache (${short.budget} > ${long.budget})`);
    });
});
