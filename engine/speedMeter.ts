// Generation speed and the memory snapshot the engine host pushes while it works.
/** Tokens per second over the current reply, from the first token on. */
export class SpeedMeter {
    #firstAt: number | null = null;
    #lastAt: number | null = null;
    #tokens = 0;

    start(): void {
        this.#firstAt = null;
        this.#lastAt = null;
        this.#tokens = 0;
    }

    add(tokens: number, now = performance.now()): void {
        // The first token's time is when the prompt finished, so speed counts decoding only.
        if (this.#firstAt == null) this.#firstAt = now;
        else this.#tokens += tokens;
        this.#lastAt = now;
    }

    get tokens(): number {
        return this.#tokens + (this.#firstAt == null ? 0 : 1);
    }

    get perSecond(): number | null {
        if (this.#firstAt == null || this.#lastAt == null || this.#lastAt <= this.#firstAt) return null;
        return this.#tokens / ((this.#lastAt - this.#firstAt) / 1000);
    }
}

/**
 * How often the engine host pushes memory.stats while generating: at least twice a second.
 * HEADROOM_LIVE_STATS_MS=0 turns the live push off (the live-stats benchmark compares both).
 */
export const LIVE_STATS_INTERVAL_MS = Number(process.env.HEADROOM_LIVE_STATS_MS ?? 400);
