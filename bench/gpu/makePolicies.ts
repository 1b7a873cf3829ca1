// The per-head KV policy files bench/gpu/check.sh runs (llama.cpp's --kv-head-policy format), made
// by the engine's own planner from DuoAttention's published Llama-3.1-8B-Instruct gates (shipped in
// assets/profiles/duo-attention/): mode auto at budgets 0.5 (DuoAttention's deployed share for GQA
// models) and 0.25, the full heads with the compute (-gpu) or in CPU RAM (-cpu), and every head full
// for the exactness check. GPU machines have no Node, so the files are committed;
// test/unit/gpuCheckPolicies.test.ts checks that they are what this writes.
//   node bench/gpu/makePolicies.ts [--out bench/gpu/policies]
import { mkdir, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HELP_OPTION, helpText, type CliSpec } from '../../common/cliHelp.ts';
import { KvOptions, planHeads, type HeadPlan } from '../../common/kv/policy.ts';
import type { KvShape } from '../../common/modelShape.ts';
import { formatPolicyFile } from '../../engine/kv/native.ts';
import { patternUrl } from '../../engine/kv/shippedProfiles.ts';
import { parseDuoTsv, profileFromDuo } from '../../engine/profiler/duoAttention.ts';
import { runCli } from '../cliArgs.ts';

const PATTERN = 'Meta-Llama-3.1-8B-Instruct';
// Llama-3(.1)-8B's cache: 32 layers × 8 KV heads of 128 dims, f16 (the sizes do not change which heads are full)
const SHAPE: KvShape = { layers: 32, kvHeads: 8, bytesPerHeadToken: 2 * 128 * 2, contextCells: 8192, ubatch: 512 };
export const GPU_CHECK_BUDGETS = ['0.50', '0.25'] as const;

/** The engine's plan for DuoAttention's Llama-3.1-8B pattern at a budget, its full heads placed on `placement`. */
export function duoPlan(budget: string, placement: 'gpu' | 'cpu'): HeadPlan {
    const profile = profileFromDuo(parseDuoTsv(readFileSync(patternUrl({ id: PATTERN }), 'utf8')), { sha256: '0'.repeat(64), layers: SHAPE.layers, kvHeads: SHAPE.kvHeads }, { budget: Number(budget), pattern: PATTERN });
    const plan = planHeads(KvOptions.parse({ mode: 'auto', offload: placement }), SHAPE, 'gpu', profile);
    if (plan == null) throw new Error(`no plan for ${PATTERN} at budget ${budget}`);
    return plan;
}

/** Every policy file check.sh reads, by name, as written. */
export function gpuCheckPolicies(): Record<string, string> {
    const files: Record<string, string> = {};
    for (const budget of GPU_CHECK_BUDGETS) {
        for (const placement of ['gpu', 'cpu'] as const) {
            const plan = duoPlan(budget, placement);
            const full = plan.policy.flat().filter((p) => p === 'full').length;
            files[`duo-${budget}-${placement}.txt`] = `# DuoAttention's ${PATTERN} gates (assets/profiles/duo-attention), budget ${budget}: the top ${full} of ${SHAPE.layers * SHAPE.kvHeads}\n`
                + `# KV heads by gate keep every token. Made by bench/gpu/makePolicies.ts (the engine's planHeads).\n${formatPolicyFile(plan)}`;
        }
    }
    files['all-full-gpu.txt'] = '# every KV head keeps every token: must give the standard cache\'s tokens exactly\ndefault F\n';
    files['all-full-cpu.txt'] = '# every KV head keeps every token, in CPU RAM (attended by the CPU): for comparison, not exactness\nfull_placement cpu\ndefault F\n';
    return files;
}

const SPEC = {
    command: 'node bench/gpu/makePolicies.ts',
    summary: 'Writes the head layouts bench/gpu/check.sh runs, planned by the engine from DuoAttention\'s Llama-3.1-8B-Instruct pattern.',
    options: {
        out: { type: 'string', value: '<dir>', help: 'where the policy files go', defaultText: 'bench/gpu/policies' },
        help: HELP_OPTION,
    },
} as const satisfies CliSpec;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
    runCli(async () => {
        const { values } = parseArgs({ options: SPEC.options });
        if (values.help === true) return void process.stdout.write(helpText(SPEC));
        const out = values.out ?? fileURLToPath(new URL('./policies/', import.meta.url));
        await mkdir(out, { recursive: true });
        const files = Object.entries(gpuCheckPolicies());
        for (const [name, text] of files) await writeFile(path.join(out, name), text);
        process.stdout.write(`wrote ${files.length} policy files to ${out}\n`);
    });
}
