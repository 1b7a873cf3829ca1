// Which heads a benchmark keeps full: the one `--layout` grammar of bench:kv and bench/ubatchBench.ts.
//   found           the profile a load finds (stored for the file, else shipped), else the engine's fallback order
//   fallback        the engine's fallback order (later layers first), whatever profile exists
//   duo:<id|tsv>    a DuoAttention gate pattern: a shipped one by its id (assets/profiles/duo-attention/manifest.json)
//                   or a full_attention_heads.tsv file, imported onto the model's shape as `npm run profile -- --duo` does
//   profile:<json>  a head profile file (npm run profile writes them)
// A budget spends a share of the KV bytes on the highest-scoring heads (planForBudget); the fallback
// order fills whole layers from the last one, so at most one layer mixes full and streaming heads,
// where a real pattern mixes most layers (DuoAttention's Llama-3.1-8B at 0.25 and 8K: 25 of 32).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { HeadroomError } from '../common/errors.ts';
import type { FoundProfile, HeadPlan } from '../common/kv/policy.ts';
import { readAssetText } from '../engine/assetText.ts';
import { patternUrl, shippedManifest } from '../engine/kv/shippedProfiles.ts';
import { readProfile } from '../engine/kv/profiles.ts';
import { parseDuoTsv, profileFromDuo } from '../engine/profiler/duoAttention.ts';

export type BenchLayout =
    | { kind: 'found' }
    | { kind: 'fallback' }
    | { kind: 'duo'; pattern: string }
    | { kind: 'profile'; file: string };

export const LAYOUT_USAGE = '--layout found|fallback|duo:<shipped id or tsv>|profile:<json>[,…]';

/** The layouts a `--layout` value names, in order; refused in one sentence otherwise. */
export function parseLayouts(value: string): BenchLayout[] {
    const layouts = value.split(',').map((part) => part.trim()).filter((part) => part !== '').map((part): BenchLayout => {
        if (part === 'found' || part === 'fallback') return { kind: part };
        const colon = part.indexOf(':');
        const kind = part.slice(0, colon);
        const what = part.slice(colon + 1);
        if (colon > 0 && what !== '' && kind === 'duo') return { kind: 'duo', pattern: what };
        if (colon > 0 && what !== '' && kind === 'profile') return { kind: 'profile', file: what };
        const ids = shippedManifest().patterns.map((p) => p.id).join(', ');
        throw new HeadroomError('BAD_REQUEST', `--layout takes found, fallback, duo:<id or .tsv> or profile:<.json>, comma-separated, not "${part}" (shipped DuoAttention patterns: ${ids}).`);
    });
    if (layouts.length === 0) throw new HeadroomError('BAD_REQUEST', `${LAYOUT_USAGE}: no layout given.`);
    return layouts;
}

/** A layout as the results name it: found, fallback, duo:<id or file name>, profile:<file name>. */
export function layoutLabel(layout: BenchLayout): string {
    switch (layout.kind) {
        case 'found':
        case 'fallback': return layout.kind;
        case 'duo': return `duo:${layout.pattern.endsWith('.tsv') ? path.basename(layout.pattern) : layout.pattern}`;
        case 'profile': return `profile:${path.basename(layout.file)}`;
    }
}

/** A DuoAttention pattern's gates: a shipped one by id, or a TSV file. */
function duoGates(pattern: string): { gates: number[][]; learnedOn: string } {
    const shipped = shippedManifest().patterns.find((p) => p.id === pattern);
    if (shipped != null) return { gates: parseDuoTsv(readAssetText(patternUrl(shipped))), learnedOn: shipped.learnedOn };
    if (!existsSync(pattern)) {
        throw new HeadroomError('NOT_FOUND', `No shipped DuoAttention pattern "${pattern}" and no such file (shipped: ${shippedManifest().patterns.map((p) => p.id).join(', ')}).`);
    }
    return { gates: parseDuoTsv(readFileSync(pattern, 'utf8')), learnedOn: path.basename(pattern) };
}

/**
 * A pattern's rows for a model with fewer layers: every k-th row from the first (k = pattern layers / model layers),
 * so that an 8-layer slice of a 32-layer model keeps the pattern's spread over depth; refused where k is not whole.
 */
export function sliceRows(gates: number[][], layers: number): { rows: number[][]; taken: number[] } {
    if (gates.length === layers) return { rows: gates, taken: gates.map((_, i) => i) };
    const step = gates.length / layers;
    if (!Number.isInteger(step) || step < 1) {
        throw new HeadroomError('BAD_REQUEST', `The pattern has ${gates.length} layers and the model ${layers}: a slice needs the model's layers to divide the pattern's.`);
    }
    const taken = Array.from({ length: layers }, (_, i) => i * step);
    return { rows: taken.map((i) => gates[i] ?? []), taken };
}

/** "rows 0, 4, …, 28 of the 32-layer pattern" for a slice; null when the pattern was taken whole. */
function sliceNote(taken: number[], patternLayers: number): string | null {
    if (taken.length === patternLayers) return null;
    const shown = taken.length <= 4 ? taken.join(', ') : `${taken.slice(0, 2).join(', ')}, …, ${taken.at(-1)}`;
    return `rows ${shown} of the ${patternLayers}-layer pattern (every ${patternLayers / taken.length}th layer, so the slice keeps the pattern's spread over depth)`;
}

/** What a layout hands the load: a profile (FoundProfile), null for the fallback order, undefined to let the load find one. */
export interface LayoutProfile {
    profile: FoundProfile | null | undefined;
    /** How the layout was made to fit the model, for the results (a slice of a longer pattern); null when taken as it is. */
    note: string | null;
}

export async function profileForLayout(layout: BenchLayout, model: { sha256: () => Promise<string>; layers: number; kvHeads: number }): Promise<LayoutProfile> {
    switch (layout.kind) {
        case 'found': return { profile: undefined, note: null };
        case 'fallback': return { profile: null, note: null };
        case 'profile': {
            const profile = await readProfile(layout.file);
            if (profile == null) throw new HeadroomError('NOT_FOUND', `No head profile at ${layout.file}.`);
            return { profile: { profile, path: layout.file, origin: 'file' }, note: null };
        }
        case 'duo': {
            const { gates, learnedOn } = duoGates(layout.pattern);
            if (gates[0]?.length !== model.kvHeads) {
                throw new HeadroomError('BAD_REQUEST', `The DuoAttention pattern ${layout.pattern} has ${gates[0]?.length ?? 0} KV heads per layer, the model ${model.kvHeads}.`);
            }
            const { rows, taken } = sliceRows(gates, model.layers);
            const profile = profileFromDuo(rows, { sha256: await model.sha256(), layers: model.layers, kvHeads: model.kvHeads }, { pattern: learnedOn });
            return { profile: { profile, path: `duo-attention/${layout.pattern}`, origin: 'file' }, note: sliceNote(taken, gates.length) };
        }
    }
}

/** Layers that hold both full and streaming heads: each costs the split, two attentions and the merge. */
export function mixedLayers(plan: Pick<HeadPlan, 'policy'> | null): number {
    return plan == null ? 0 : plan.policy.filter((row) => row.includes('full') && row.includes('streaming')).length;
}
