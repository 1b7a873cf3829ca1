// Download speed over the last few seconds, and the time left at that speed: what a progress
// line shows. A recent window, so a stall shows as a falling speed rather than an old average.

const WINDOW_MS = 5000;

export class TransferRate {
    #samples: { at: number; bytes: number }[] = [];

    /** The total received so far, as of `at` (milliseconds). */
    add(bytes: number, at = performance.now()): void {
        this.#samples.push({ at, bytes });
        while (this.#samples.length > 2 && (this.#samples[1]?.at ?? at) <= at - WINDOW_MS) this.#samples.shift();
    }

    get bytesPerSecond(): number {
        const first = this.#samples[0];
        const last = this.#samples.at(-1);
        if (first == null || last == null || last.at <= first.at) return 0;
        return Math.max(0, (last.bytes - first.bytes) / ((last.at - first.at) / 1000));
    }

    /** Seconds to receive `remaining` bytes at the current speed; null while there is no speed yet. */
    secondsFor(remaining: number): number | null {
        const speed = this.bytesPerSecond;
        return speed > 0 ? Math.max(0, remaining) / speed : null;
    }
}
