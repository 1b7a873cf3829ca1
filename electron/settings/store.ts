// Where settings persist. A tiny key/value interface so the SQLite settings table
// (HeadroomDatabase, branch docs) can replace the JSON file without touching anything else.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface KeyValueStore {
    get(key: string): unknown;
    set(key: string, value: unknown): void;
}

/** A JSON object in one file, written atomically (temp file + rename) on every change. */
export class JsonFileStore implements KeyValueStore {
    #file: string;
    #values: Record<string, unknown>;

    constructor(file: string) {
        this.#file = file;
        this.#values = JsonFileStore.#read(file);
    }

    static #read(file: string): Record<string, unknown> {
        try {
            const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
            return parsed != null && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed as Record<string, unknown> : {};
        } catch {
            return {}; // missing or unreadable: start from the defaults
        }
    }

    get(key: string): unknown {
        return this.#values[key];
    }

    set(key: string, value: unknown): void {
        this.#values[key] = value;
        mkdirSync(path.dirname(this.#file), { recursive: true });
        const temp = `${this.#file}.${process.pid}.tmp`;
        writeFileSync(temp, `${JSON.stringify(this.#values, null, 2)}\n`);
        renameSync(temp, this.#file);
    }
}
