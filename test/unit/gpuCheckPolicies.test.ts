// bench/gpu/check.sh runs on machines without Node, so its policy files are committed, made by
// bench/gpu/make-policies.sh (awk). They must be the plans Headroom's engine makes from the same
// shipped DuoAttention pattern (mode auto, DuoAttention's share of heads full), head for head.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KvOptions, planHeads } from '../../common/kv/policy.ts';
import type { KvShape } from '../../common/modelShape.ts';
import { formatPolicyFile } from '../../engine/kv/native.ts';
import { parseDuoTsv, profileFromDuo } from '../../engine/profiler/duoAttention.ts';

const root = new URL('../../', import.meta.url);
const policies = new URL('bench/gpu/policies/', root);
const gates = parseDuoTsv(readFileSync(new URL('assets/profiles/duo-attention/Meta-Llama-3.1-8B-Instruct/full_attention_heads.tsv', root), 'utf8'));
// Meta-Llama-3(.1)-8B's cache: 32 layers x 8 KV heads of 128 dims, f16 (the sizes do not change which heads are full)
const shape: KvShape = { layers: 32, kvHeads: 8, bytesPerHeadToken: 2 * 128 * 2, contextCells: 8192, ubatch: 512 };

/** The settings of a policy file, comments dropped. */
function settings(text: string): string[] {
    return text.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
}

describe('bench/gpu policy files', () => {
    for (const budget of ['0.50', '0.25']) {
        for (const placement of ['gpu', 'cpu'] as const) {
            test(`duo-${budget}-${placement}.txt is the engine's plan for DuoAttention's Llama-3.1-8B pattern at budget ${budget}`, () => {
                const profile = profileFromDuo(gates, { sha256: '0'.repeat(64), layers: 32, kvHeads: 8 }, { budget: Number(budget), pattern: 'Meta-Llama-3.1-8B-Instruct' });
                const plan = planHeads(KvOptions.parse({ mode: 'auto', offload: placement }), shape, 'gpu', profile);
                assert.ok(plan != null);
                const file = readFileSync(new URL(`duo-${budget}-${placement}.txt`, policies), 'utf8');
                assert.deepEqual(settings(file), settings(formatPolicyFile(plan)));
                const full = plan.policy.flat().filter((p) => p === 'full').length;
                assert.equal(full, Math.round(Number(budget) * 256));
                // what issue 21 says of this pattern: it mixes full and streaming heads in 30 (0.5) and 25 (0.25) of 32 layers
                const mixed = plan.policy.filter((row) => row.includes('full') && row.includes('streaming')).length;
                assert.equal(mixed, budget === '0.50' ? 30 : 25);
            });
        }
    }

    test('the exactness policy keeps every head full, on the GPU', () => {
        assert.deepEqual(settings(readFileSync(new URL('all-full-gpu.txt', policies), 'utf8')), ['default F']);
        assert.deepEqual(settings(readFileSync(new URL('all-full-cpu.txt', policies), 'utf8')), ['full_placement cpu', 'default F']);
    });

    test('make-policies.sh is where they came from', () => {
        const script = readFileSync(fileURLToPath(new URL('bench/gpu/make-policies.sh', root)), 'utf8');
        for (const name of ['duo-$budget-$placement.txt', 'all-full-gpu.txt', 'all-full-cpu.txt']) assert.ok(script.includes(name), name);
    });
});
