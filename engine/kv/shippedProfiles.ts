// Head profiles shipped with Headroom: DuoAttention's published gates for popular models
// (assets/profiles/duo-attention, MIT-licensed data). A loaded GGUF is matched by its name
// metadata and, always, its shape: architecture, layers and KV heads.
import { z } from 'zod';
import type { FoundProfile } from '../../common/kv/policy.ts';
import { readAssetText } from '../assetText.ts';
import { parseDuoTsv, profileFromDuo } from '../profiler/duoAttention.ts';

const MANIFEST_URL = new URL('../../assets/profiles/duo-attention/manifest.json', import.meta.url);
// One literal URL per file, so that a bundler sees (and inlines) each; manifest.json names the same ones.
const PATTERN_URLS: Readonly<Record<string, URL>> = {
    'Meta-Llama-3.1-8B-Instruct': new URL('../../assets/profiles/duo-attention/Meta-Llama-3.1-8B-Instruct/full_attention_heads.tsv', import.meta.url),
    'Mistral-7B-Instruct-v0.2': new URL('../../assets/profiles/duo-attention/Mistral-7B-Instruct-v0.2/full_attention_heads.tsv', import.meta.url),
    'Mistral-7B-Instruct-v0.3': new URL('../../assets/profiles/duo-attention/Mistral-7B-Instruct-v0.3/full_attention_heads.tsv', import.meta.url),
    'Llama-3-8B-Instruct-Gradient-1048k': new URL('../../assets/profiles/duo-attention/Llama-3-8B-Instruct-Gradient-1048k/full_attention_heads.tsv', import.meta.url),
    'Llama-3-8B-Instruct-Gradient-4194k': new URL('../../assets/profiles/duo-attention/Llama-3-8B-Instruct-Gradient-4194k/full_attention_heads.tsv', import.meta.url),
    'Llama-2-7B-32K-Instruct': new URL('../../assets/profiles/duo-attention/Llama-2-7B-32K-Instruct/full_attention_heads.tsv', import.meta.url),
};

export const ShippedPattern = z.object({
    id: z.string(),
    /** The Hugging Face model the gates were learned on. */
    learnedOn: z.string(),
    file: z.string(),
    architecture: z.string(),
    layers: z.number().int().positive(),
    kvHeads: z.number().int().positive(),
    /** Names a GGUF of this model goes by, compared without case, spaces or punctuation. */
    names: z.array(z.string()).min(1),
});
export type ShippedPattern = z.infer<typeof ShippedPattern>;

export const ShippedManifest = z.object({ source: z.string(), commit: z.string(), license: z.string(), patterns: z.array(ShippedPattern) });
export type ShippedManifest = z.infer<typeof ShippedManifest>;

let manifest: ShippedManifest | null = null;

export function shippedManifest(): ShippedManifest {
    manifest ??= ShippedManifest.parse(JSON.parse(readAssetText(MANIFEST_URL)));
    return manifest;
}

/** The URL a pattern's gates are read from. */
export function patternUrl(pattern: Pick<ShippedPattern, 'id'>): URL {
    const url = PATTERN_URLS[pattern.id];
    if (url == null) throw new Error(`The shipped profile ${pattern.id} has no file.`);
    return url;
}

/** A model name as compared: lower case, letters, digits and dots only ("Meta Llama 3.1 8B Instruct" = "meta-llama-3.1-8b-instruct"). */
export function normalizeModelName(name: string): string {
    return name.toLowerCase().replace(/[^a-z0-9.]/g, '');
}

// File-format words some publishers leave at the end of a name ("-GGUF", "-Q4_K_M"): they say nothing about the weights' kind.
const FORMAT_SUFFIX = /[\s_\-.](?:gguf|f16|f32|bf16|fp16|i?q\d(?:_[a-z0-9]+)*)$/i;

/** The names a GGUF's general.* metadata gives its model, normalized, with and without the publisher's prefix and format words. */
export function modelNamesOf(general: Record<string, unknown> | undefined): string[] {
    const text = (key: string) => (typeof general?.[key] === 'string' && general[key] !== '' ? general[key] : null);
    const composed = [text('basename'), text('size_label'), text('finetune'), text('version')].filter((part) => part != null);
    const raw = [text('name'), composed.length >= 2 ? composed.join('-') : null].filter((name) => name != null);
    const names = new Set<string>();
    for (const name of raw) {
        let bare = name.trim();
        while (FORMAT_SUFFIX.test(bare)) bare = bare.replace(FORMAT_SUFFIX, '');
        names.add(normalizeModelName(bare));
        // "mistralai_Mistral-7B-Instruct-v0.2", "meta-llama/Llama-3.1-8B-Instruct": the publisher's prefix
        const unprefixed = /^[^_/]+[_/](.+)$/.exec(bare)?.[1];
        if (unprefixed != null) names.add(normalizeModelName(unprefixed));
    }
    names.delete('');
    return [...names];
}

/** What a pattern must agree with: the model's architecture and its layers × KV heads. */
export interface ModelKind {
    architecture: string;
    layers: number;
    kvHeads: number;
}

/** The shipped pattern for a model: its name is one of the pattern's and its shape is the pattern's, else null. */
export function matchShippedPattern(
    patterns: readonly ShippedPattern[], general: Record<string, unknown> | undefined, attention: ModelKind,
): ShippedPattern | null {
    const names = new Set(modelNamesOf(general));
    return patterns.find((pattern) => pattern.architecture === attention.architecture && pattern.layers === attention.layers
        && pattern.kvHeads === attention.kvHeads && pattern.names.some((name) => names.has(normalizeModelName(name)))) ?? null;
}

/** The shipped profile for a model file, as a load plans with it; null when no pattern matches. */
export function shippedProfileFor(
    sha256: string, general: Record<string, unknown> | undefined, attention: ModelKind,
): FoundProfile | null {
    const pattern = matchShippedPattern(shippedManifest().patterns, general, attention);
    if (pattern == null) return null;
    const profile = profileFromDuo(parseDuoTsv(readAssetText(patternUrl(pattern))), { sha256, layers: attention.layers, kvHeads: attention.kvHeads }, { pattern: pattern.learnedOn });
    return { profile, path: `duo-attention/${pattern.file}`, origin: 'shipped' };
}
