// Passkey documents for the app's tests: the benchmarks' filler (Apache-2.0 license text, never
// seen in organism.gguf's training) with one fact buried in it, as the model was trained to retrieve.
import { loadFiller, needleFor, type Needle } from '../../engine/profiler/haystack.ts';
import { makePdf, paginate } from './documents.ts';

const LICENSE = loadFiller();

export type Passkey = Needle;

export function passkey(key = 'silver lantern', digits = '73914'): Passkey {
    return needleFor(key, digits);
}

/** About `chars` characters of license text (≈ 2 characters a token) with the fact at `depth`. */
export function haystackText(fact: string, chars = 2800, depth = 0.5): string {
    const sentences = LICENSE.replace(/\s+/g, ' ').split(/(?<=[.;:])\s+/);
    const kept: string[] = [];
    let length = 0;
    for (const sentence of sentences) {
        if (length >= chars) break;
        kept.push(sentence);
        length += sentence.length + 1;
    }
    kept.splice(Math.round(kept.length * depth), 0, fact);
    return kept.join(' ');
}

/** The same as a PDF of many short pages, the fact on one of the middle ones. */
export function haystackPdf(fact: string, chars = 2800): Buffer {
    return makePdf(paginate(haystackText(fact, chars), 6, 80));
}
