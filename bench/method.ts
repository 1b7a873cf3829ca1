// How the benchmarks time things on a shared machine: every side in each round, the order
// alternating from round to round (A B C, then C B A, …) so that a slow spell of the machine
// falls on all sides alike; the spread of the rounds (min, median, max) reported, never one run;
// and decode rates that divide by the tokens actually generated.
import { z } from 'zod';

/** A measurement's rounds: min, median and max, and every sample in the order the rounds ran. */
export const Spread = z.object({
    min: z.number(),
    median: z.number(),
    max: z.number(),
    samples: z.array(z.number()),
});
export type Spread = z.infer<typeof Spread>;

export function median(values: readonly number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const upper = sorted[Math.floor(sorted.length / 2)] ?? 0;
    const lower = sorted[Math.ceil(sorted.length / 2) - 1] ?? upper;
    return (lower + upper) / 2;
}

export function spread(values: readonly number[]): Spread {
    if (values.length === 0) throw new Error('a spread needs at least one sample');
    return { min: Math.min(...values), median: median(values), max: Math.max(...values), samples: [...values] };
}

/** The order of the sides in round `round` (from 0): as given in even rounds, reversed in odd ones. */
export function roundOrder<T>(sides: readonly T[], round: number): T[] {
    return round % 2 === 0 ? [...sides] : [...sides].reverse();
}

/** Every round's order, for `rounds` rounds. */
export function schedule<T>(sides: readonly T[], rounds: number): T[][] {
    return Array.from({ length: rounds }, (_, round) => roundOrder(sides, round));
}

/** What timeDecode needs of a sequence: node-llama-cpp's evaluate. */
export interface Evaluates<Token> {
    evaluate: (tokens: Token[], options: { temperature: number; yieldEogToken: boolean }) => AsyncGenerator<Token, void, unknown>;
}

/**
 * Greedy decoding of up to `count` tokens after the evaluated history. End-of-generation tokens are yielded
 * and decoding goes on past them (yieldEogToken); should the sequence still stop early, the rate divides by
 * the tokens it did generate, never by the count asked for.
 */
export async function timeDecode<Token>(sequence: Evaluates<Token>, lastToken: Token, count: number): Promise<{ tokens: number; seconds: number; tokPerSec: number }> {
    let tokens = 0;
    const start = performance.now();
    const generator = sequence.evaluate([lastToken], { temperature: 0, yieldEogToken: true });
    while (tokens < count && !(await generator.next()).done) tokens++;
    const seconds = (performance.now() - start) / 1000;
    await generator.return(undefined);
    if (tokens === 0) throw new Error('decoding generated no token');
    return { tokens, seconds, tokPerSec: tokens / seconds };
}
