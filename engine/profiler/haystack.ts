// Needle-in-a-haystack material: a seeded RNG, passkey facts and filler documents cut to a
// token length with the fact buried at a chosen depth. The filler is the Apache-2.0 license,
// committed as a fixture: it ships on every Debian machine and the organism never saw it.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { LlamaModel } from 'node-llama-cpp';

// A file next to the sources, or a data: URL where a bundler inlined it (the app's engine host).
const DEFAULT_FILLER_URL = new URL('./filler-apache-2.0.txt', import.meta.url);
export const DEFAULT_FILLER_PATH = DEFAULT_FILLER_URL.protocol === 'file:' ? fileURLToPath(DEFAULT_FILLER_URL) : 'filler-apache-2.0.txt';

function readDataUrl(url: URL): string {
    const comma = url.href.indexOf(',');
    const data = url.href.slice(comma + 1);
    return url.href.slice(0, comma).endsWith(';base64') ? Buffer.from(data, 'base64').toString('utf8') : decodeURIComponent(data);
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

const COLORS = ['red', 'blue', 'green', 'yellow', 'purple', 'orange', 'black', 'white', 'silver', 'golden', 'pink', 'brown', 'gray', 'violet', 'crimson', 'teal'];
const OBJECTS = ['apple', 'door', 'lamp', 'chair', 'river', 'bottle', 'window', 'garden', 'castle', 'mirror', 'pencil', 'bridge', 'basket', 'candle', 'engine', 'ladder', 'harbor', 'violin'];

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

export function loadFiller(fillerPath?: string): string {
    const text = fillerPath != null ? readFileSync(fillerPath, 'utf8')
        : DEFAULT_FILLER_URL.protocol === 'data:' ? readDataUrl(DEFAULT_FILLER_URL) : readFileSync(DEFAULT_FILLER_URL, 'utf8');
    // One space between words and one blank line between paragraphs, as the organism's training text was.
    return text.replace(/[ \t]+/g, ' ').replace(/\n{3,}/g, '\n\n').trim();
}

export interface Haystack {
    document: string;
    /** Where the fact ended up, as a fraction of the document's characters. */
    actualDepth: number;
}

/**
 * A filler document of about `documentTokens` tokens (the filler repeats as needed, starting
 * at a seeded place) with the needle's fact inserted at a sentence boundary near `depth`.
 */
export function buildHaystack(
    model: LlamaModel, filler: string, needle: Needle, documentTokens: number, depth: number, random: () => number,
): Haystack {
    const factTokens = model.tokenize(` ${needle.fact}`).length;
    const fillTokens = Math.max(1, documentTokens - factTokens);
    // Start at a random paragraph so trials differ; repeat the filler until it is long enough.
    const paragraphs = [...filler.matchAll(/\n\n/g)].map((m) => m.index + 2);
    const start = paragraphs.length === 0 ? 0 : paragraphs[Math.floor(random() * paragraphs.length)];
    let text = filler.slice(start);
    while (model.tokenize(text).length < fillTokens) text += `\n\n${filler}`;
    const tokens = model.tokenize(text).slice(0, fillTokens);
    const body = model.detokenize(tokens);
    // Snap the insertion point to the nearest sentence or line end, jittered a little so
    // that trials at one depth do not all land on the same boundary.
    // Depths 0 and 1 stay exactly at the document's edges.
    const jitter = depth > 0 && depth < 1 ? (random() - 0.5) * 0.04 : 0;
    const target = Math.round(Math.min(1, Math.max(0, depth + jitter)) * body.length);
    const insertAt = nearestBoundary(body, target);
    const before = body.slice(0, insertAt);
    const after = body.slice(insertAt);
    const document = before.length === 0 ? `${needle.fact} ${after}`
        : after.length === 0 ? `${before.trimEnd()} ${needle.fact}`
        : `${before.trimEnd()} ${needle.fact} ${after.trimStart()}`;
    return { document, actualDepth: body.length === 0 ? 0 : insertAt / body.length };
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
