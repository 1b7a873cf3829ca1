// DuoAttention's published head patterns (mit-han-lab/duo-attention, attn_patterns/*/full_attention_heads.tsv):
// one row per layer, one tab-separated gate value in [0, 1] per KV head, higher = retrieval.
// Headroom ships some (assets/profiles/duo-attention, kv/shippedProfiles.ts); `npm run profile -- --duo` imports any.
import { HeadProfile } from '../../common/kv/policy.ts';
import { HeadroomError } from '../../common/errors.ts';

// Optimization leaves some gates a hair outside [0, 1] (the published files have -2e-4); DuoAttention's
// loader clips them to [0, 1], and so does this one. Anything further out is not a gate.
const GATE_SLACK = 0.01;

export function parseDuoTsv(tsv: string): number[][] {
    const rows = tsv.split(/\r?\n/).map((line) => line.trim()).filter((line) => line.length > 0);
    if (rows.length === 0) throw new HeadroomError('BAD_REQUEST', 'The DuoAttention pattern file is empty.');
    const scores = rows.map((line, layer) => line.split(/\t+|\s+/).map((cell, head) => {
        const value = Number(cell);
        if (cell === '' || !Number.isFinite(value) || value < -GATE_SLACK || value > 1 + GATE_SLACK) {
            throw new HeadroomError('BAD_REQUEST', `DuoAttention pattern row ${layer + 1}, column ${head + 1}: "${cell}" is not a gate value in [0, 1].`);
        }
        return Math.min(1, Math.max(0, value));
    }));
    const width = scores[0]?.length ?? 0;
    const ragged = scores.findIndex((row) => row.length !== width);
    if (ragged >= 0) throw new HeadroomError('BAD_REQUEST', `DuoAttention pattern row ${ragged + 1} has ${scores[ragged]?.length} heads, row 1 has ${width}.`);
    return scores;
}

export function formatDuoTsv(scores: number[][]): string {
    return `${scores.map((row) => row.join('\t')).join('\n')}\n`;
}

/** DuoAttention's deployed setting for GQA models: half the heads keep full attention (its "sparsity 0.5"). */
export const DUO_DEFAULT_BUDGET = 0.5;

/**
 * A profile from a DuoAttention pattern, checked against the model's layers × KV heads.
 * The gates rank the heads; the budget is DuoAttention's deployed share unless given; `pattern`
 * names the model the gates were learned on.
 */
export function profileFromDuo(
    scores: number[][], model: { sha256: string; layers: number; kvHeads: number }, options: { budget?: number; now?: Date; pattern?: string } = {},
): HeadProfile {
    if (scores.length !== model.layers || scores[0]?.length !== model.kvHeads) {
        throw new HeadroomError('BAD_REQUEST', `The DuoAttention pattern is ${scores.length} layers × ${scores[0]?.length ?? 0} KV heads, but the model has ${model.layers} × ${model.kvHeads}: it was made for another model.`);
    }
    return HeadProfile.parse({
        modelSha256: model.sha256,
        layers: model.layers,
        kvHeads: model.kvHeads,
        scores,
        source: 'duo-attention',
        ...(options.pattern != null ? { pattern: options.pattern } : {}),
        // DuoAttention keeps the top share of heads by gate full, at every length: its gated set
        fullHeads: Math.round((options.budget ?? DUO_DEFAULT_BUDGET) * model.layers * model.kvHeads),
        recommendedBudget: options.budget ?? DUO_DEFAULT_BUDGET,
        createdAt: (options.now ?? new Date()).toISOString(),
    });
}
