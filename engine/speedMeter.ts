// Generation speed, as the memory gauges show it.
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
