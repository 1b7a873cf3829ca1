// Where settings persist: a key/value interface the settings service reads and writes,
// implemented by the SQLite settings table (HeadroomDatabase.settings).
export interface KeyValueStore {
    get(key: string): unknown;
    set(key: string, value: unknown): void;
}
