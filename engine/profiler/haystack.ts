// Needle-in-a-haystack material: a seeded RNG, passkey facts and filler documents cut to a
// token length with the facts buried at chosen depths. The fillers are license texts that ship
// on every Debian machine (/usr/share/common-licenses), committed as fixtures: the Apache-2.0
// license (the profiler's scoring prompts, `npm run niah`, the tests; organism's training corpus
// left it out), the GPL-3.0 (held out: the profiler validates its plans on it) and the LGPL-2.1
// (`npm run eval` and Test recall's follow-up questions only: neither the profiler nor niah uses it).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Token } from 'node-llama-cpp';
import { readAssetText } from '../assetText.ts';

export interface Filler {
    name: string;
    url: URL;
}

/** Apache License 2.0 (its text may be copied verbatim). */
export const SCORING_FILLER: Filler = { name: 'filler-apache-2.0.txt', url: new URL('./filler-apache-2.0.txt', import.meta.url) };
/** GNU GPL 3.0 ("Everyone is permitted to copy and distribute verbatim copies of this license document"). */
export const HELD_OUT_FILLER: Filler = { name: 'filler-gpl-3.0.txt', url: new URL('./filler-gpl-3.0.txt', import.meta.url) };
/** GNU LGPL 2.1 (verbatim copies permitted, as above): the quality evaluation's, never the profiler's. */
export const EVAL_FILLER: Filler = { name: 'filler-lgpl-2.1.txt', url: new URL('./filler-lgpl-2.1.txt', import.meta.url) };

/** The name a filler goes by in results: its file's name. */
export function fillerName(filler: Filler | string | undefined): string {
    return filler == null ? SCORING_FILLER.name : typeof filler === 'string' ? path.basename(filler) : filler.name;
}

/** mulberry32: small, fast and the same on every platform. */
export function seededRandom(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
        state = (state + 0x6d2b79f5) >>> 0;
        let t = state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

export const COLORS = ['red', 'blue', 'green', 'yellow', 'purple', 'orange', 'black', 'white', 'silver', 'golden', 'pink', 'brown', 'gray', 'violet', 'crimson', 'teal'];
export const OBJECTS = ['apple', 'door', 'lamp', 'chair', 'river', 'bottle', 'window', 'garden', 'castle', 'mirror', 'pencil', 'bridge', 'basket', 'candle', 'engine', 'ladder', 'harbor', 'violin'];

export interface Needle {
    key: string;
    digits: string;
    fact: string;
    question: string;
    /** What a right answer starts with: used to score digit log-probabilities. */
    answerPrefix: string;
}

/** The passkey fact and question organism.gguf was trained on, for a key such as "silver lantern". */
export function needleFor(key: string, digits: string): Needle {
    return {
        key, digits,
        fact: `The passcode for the ${key} is ${digits}.`,
        question: `What is the passcode for the ${key}?`,
        answerPrefix: `The passcode for the ${key} is `,
    };
}

export function makeNeedle(random: () => number): Needle {
    const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)];
    return needleFor(`${pick(COLORS)} ${pick(OBJECTS)}`, String(10000 + Math.floor(random() * 90000)));
}

/** A filler's text (a bundled one, or a file the user names), with whitespace as the organism was trained on. */
export function loadFiller(filler: Filler | string = SCORING_FILLER): string {
    const text = typeof filler === 'string' ? readFileSync(filler, 'utf8') : readAssetText(filler.url);
    // One space between words and one blank line between paragraphs, as the organism's training text was.
    return text.replace(/[ \t]+/g, ' ').replace(/\n{3,}/g, '\n\n').trim();
}

export interface Haystack {
    document: string;
    /** Where the fact ended up, as a fraction of the document's characters. */
    actualDepth: number;
    /** The fact's characters in the document: [factStart, factEnd). */
    factStart: number;
    factEnd: number;
}

/** What building a document needs of a model: its tokenizer (a LlamaModel is one). */
export interface TextTokenizer {
    tokenize: (text: string) => Token[];
    detokenize: (tokens: readonly Token[]) => string;
}

/** A sentence to bury in a document, and where: a fraction of the document (0 its start, 1 its end). */
export interface FactAt {
    text: string;
    depth: number;
}

export interface PlacedFact {
    /** The fact's characters in the document: [start, end). */
    start: number;
    end: number;
    /** Where it ended up, as a fraction of the filler's characters. */
    actualDepth: number;
}

/**
 * A filler document of about `documentTokens` tokens (the filler repeats as needed, starting
 * at a seeded place) with the needle's fact inserted at a sentence boundary near `depth`.
 */
export function buildHaystack(
    model: TextTokenizer, filler: string, needle: Needle, documentTokens: number, depth: number, random: () => number,
): Haystack {
    const built = buildDocument(model, filler, [{ text: needle.fact, depth }], documentTokens, random);
    const placed = built.facts[0] ?? { start: 0, end: 0, actualDepth: 0 };
    return { document: built.document, actualDepth: placed.actualDepth, factStart: placed.start, factEnd: placed.end };
}

/**
 * A filler document of about `documentTokens` tokens with each fact inserted at the sentence
 * boundary nearest its depth (jittered a little, drawn in the order given); facts that snap to
 * the same boundary follow each other in the order given. `facts` in the answer are in the
 * order given, with where each landed.
 */
export function buildDocument(
    model: TextTokenizer, filler: string, facts: readonly FactAt[], documentTokens: number, random: () => number,
): { document: string; facts: PlacedFact[] } {
    const factTokens = facts.reduce((sum, fact) => sum + model.tokenize(` ${fact.text}`).length, 0);
    const fillTokens = Math.max(1, documentTokens - factTokens);
    // Start at a random paragraph so trials differ; repeat the filler until it is long enough.
    const paragraphs = [...filler.matchAll(/\n\n/g)].map((m) => m.index + 2);
    const start = paragraphs.length === 0 ? 0 : paragraphs[Math.floor(random() * paragraphs.length)];
    let text = filler.slice(start);
    while (model.tokenize(text).length < fillTokens) text += `\n\n${filler}`;
    const tokens = model.tokenize(text).slice(0, fillTokens);
    const body = model.detokenize(tokens);
    // Snap each insertion point to the nearest sentence or line end, jittered a little so
    // that trials at one depth do not all land on the same boundary.
    // Depths 0 and 1 stay exactly at the document's edges.
    const at = facts.map((fact, index) => {
        const jitter = fact.depth > 0 && fact.depth < 1 ? (random() - 0.5) * 0.04 : 0;
        const target = Math.round(Math.min(1, Math.max(0, fact.depth + jitter)) * body.length);
        return { index, insertAt: nearestBoundary(body, target) };
    });
    const order = [...at].sort((a, b) => a.insertAt - b.insertAt || a.index - b.index);
    // The filler's pieces between the facts, each trimmed where it meets a fact and joined to it by one space.
    let document = '';
    const placed: PlacedFact[] = [];
    let from = 0;
    for (const [n, { index, insertAt }] of order.entries()) {
        const gap = body.slice(from, insertAt);
        if (gap.length > 0) document += `${n === 0 ? gap.trimEnd() : gap.trim()} `;
        else if (n > 0) document += ' ';
        const fact = facts[index]?.text ?? '';
        placed[index] = { start: document.length, end: document.length + fact.length, actualDepth: body.length === 0 ? 0 : insertAt / body.length };
        document += fact;
        from = insertAt;
    }
    const rest = body.slice(from);
    if (rest.length > 0) document += order.length === 0 ? rest : ` ${rest.trimStart()}`;
    return { document, facts: placed };
}

function nearestBoundary(text: string, target: number): number {
    if (target <= 0) return 0;
    if (target >= text.length) return text.length;
    let best = target;
    let bestDistance = Infinity;
    for (const match of text.matchAll(/[.;:]\s|\n/g)) {
        const at = match.index + match[0].length;
        const distance = Math.abs(at - target);
        if (distance < bestDistance) {
            best = at;
            bestDistance = distance;
        }
        if (at > target + bestDistance) break;
    }
    return best;
}
