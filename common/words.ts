// Counted words, said right: "1 page", "2 pages", "1,024 tokens". One helper for every place
// that says how many of something (the UI, the CLIs, the backend's lines).

/** `count` and its noun, singular for exactly one: plural('page', 1) → "1 page"; irregular plurals as the third argument. */
export function plural(noun: string, count: number, many = `${noun}s`): string {
    return `${count.toLocaleString('en-US')} ${count === 1 ? noun : many}`;
}
