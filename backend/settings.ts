// Reads, validates and saves settings. A change is checked as a whole (each field, then the
// rules between fields); a refused change keeps every old value and says why.
import { HeadroomError } from '../common/errors.ts';
import { plainProblem } from '../common/issues.ts';
import { crossFieldProblems, DEFAULT_SETTINGS, isSettingKey, RELOAD_SETTINGS, SETTING_KEYS, SETTING_LABELS, Settings, SettingsPatch, type SettingKey, type SettingsState } from '../common/settings.ts';

/** Where settings persist: the SQLite settings table (HeadroomDatabase.settings). */
export interface KeyValueStore {
    get: (key: string) => unknown;
    set: (key: string, value: unknown) => void;
}

const STORE_PREFIX = 'settings.';

export class SettingsService {
    #store: KeyValueStore;
    #settings: Settings;
    /** The settings the loaded model was loaded with; null when none is loaded. */
    #loadedWith: Settings | null = null;

    constructor(store: KeyValueStore) {
        this.#store = store;
        // A stored value that no longer validates (older version, hand edit) falls back to its default.
        const stored = Object.fromEntries(SETTING_KEYS.map((key) => {
            const value = store.get(STORE_PREFIX + key);
            const valid = value !== undefined && Settings.shape[key].safeParse(value).success;
            return [key, valid ? value : DEFAULT_SETTINGS[key]];
        }));
        const parsed = Settings.safeParse(stored);
        this.#settings = parsed.success && crossFieldProblems(parsed.data).length === 0 ? parsed.data : { ...DEFAULT_SETTINGS };
    }

    get settings(): Settings {
        return { ...this.#settings };
    }

    get state(): SettingsState {
        const loaded = this.#loadedWith;
        const pendingReload = loaded == null ? [] : SETTING_KEYS.filter((key) => RELOAD_SETTINGS.has(key) && this.#settings[key] !== loaded[key]);
        return { settings: this.settings, pendingReload };
    }

    /** Validate and save a change; throws INVALID_SETTINGS and changes nothing when refused. */
    update(patch: unknown): SettingsState {
        const parsedPatch = SettingsPatch.safeParse(patch, { error: plainProblem });
        if (!parsedPatch.success) {
            const issue = parsedPatch.error.issues[0];
            const key = issue?.path[0] == null ? undefined : String(issue.path[0]);
            // A bad value is blamed on its setting; an unknown one on itself.
            const field = key ?? (issue?.code === 'unrecognized_keys' ? issue.keys[0] : undefined);
            throw new HeadroomError('INVALID_SETTINGS', `${label(key ?? 'settings')}: ${issue?.message ?? 'invalid'}. The previous value is kept.`, field);
        }
        const next = { ...this.#settings, ...parsedPatch.data };
        const problem = crossFieldProblems(next)[0];
        if (problem != null) throw new HeadroomError('INVALID_SETTINGS', `${label(problem.key)}: ${problem.message} The previous value is kept.`, problem.key);
        for (const key of Object.keys(parsedPatch.data) as SettingKey[]) {
            if (next[key] !== this.#settings[key]) this.#store.set(STORE_PREFIX + key, next[key]);
        }
        this.#settings = next;
        return this.state;
    }

    /**
     * Record the settings the loaded model's parameters were built from (null: none is loaded, or
     * its parameters were given, not built), so later changes are flagged as needing a reload.
     */
    markLoaded(builtFrom: Settings | null): void {
        this.#loadedWith = builtFrom == null ? null : { ...builtFrom };
    }
}

function label(key: string): string {
    return isSettingKey(key) ? SETTING_LABELS[key] : key;
}
