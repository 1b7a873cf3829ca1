// bench/gpu/check.sh runs on machines without Node, so its policy files are committed, made by
// bench/gpu/makePolicies.ts with the engine's own planner. The committed files must be what it
// writes now, and the layouts what issue 21 says of DuoAttention's Llama-3.1-8B pattern.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { duoPlan, GPU_CHECK_BUDGETS, gpuCheckPolicies } from '../../bench/gpu/makePolicies.ts';

const policies = new URL('../../bench/gpu/policies/', import.meta.url);

describe('bench/gpu policy files', () => {
    for (const [name, text] of Object.entries(gpuCheckPolicies())) {
        test(`${name} is what makePolicies.ts writes`, () => {
            assert.equal(readFileSync(new URL(name, policies), 'utf8'), text);
        });
    }

    for (const budget of GPU_CHECK_BUDGETS) {
        test(`budget ${budget}: DuoAttention's share of heads full, mixed with streaming heads in as many layers as the pattern says`, () => {
            const plan = duoPlan(budget, 'gpu');
            assert.equal(plan.policy.flat().filter((p) => p === 'full').length, Math.round(Number(budget) * 256));
            // it mixes full and streaming heads in 30 (0.5) and 25 (0.25) of 32 layers
            assert.equal(plan.policy.filter((row) => row.includes('full') && row.includes('streaming')).length, budget === '0.50' ? 30 : 25);
            assert.equal(duoPlan(budget, 'cpu').fullPlacement, 'cpu');
            assert.deepEqual(duoPlan(budget, 'cpu').policy, plan.policy, 'the same heads full wherever they are placed');
        });
    }

    test('the exactness policy keeps every head full, on the GPU', () => {
        assert.match(gpuCheckPolicies()['all-full-gpu.txt'] ?? '', /^default F$/m);
        assert.doesNotMatch(gpuCheckPolicies()['all-full-gpu.txt'] ?? '', /full_placement/);
    });
});
