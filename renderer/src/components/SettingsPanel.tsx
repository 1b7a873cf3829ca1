// Every setting with its one-line explanation. Changes are sent as they are made; the
// backend validates them, and a refusal shows its message while the old value stays. The
// choices are the schemas' own options (common/settings.ts), each with its words here.
import { useEffect, useState, type ReactNode } from 'react';
import { KvOffload, KvMode } from '../../../common/kv/policy.ts';
import { EngineChoice, FlashAttention } from '../../../common/loadOptions.ts';
import { KvCacheType, quantizedCacheRefusal } from '../../../common/modelShape.ts';
import { AUTO_COMPRESSION_HELP, SETTING_HELP, Settings as SettingsSchema, type SettingKey, type Settings, type SettingsState } from '../../../common/settings.ts';

type Appearance = Settings['appearance'];
/** What each option of a choice is called; a new option in a schema needs its words here (the type says so). */
const ENGINE_LABELS: Record<EngineChoice, string> = { compressed: 'Headroom (compressed)', stock: 'Stock llama.cpp (no compression)' };
const FLASH_ATTENTION_LABELS: Record<FlashAttention, string> = { auto: 'Automatic', on: 'On', off: 'Off' };
const KV_MODE_LABELS: Record<KvMode, string> = { off: 'Off (full cache)', auto: 'Auto (profile\'s budget)', budget: 'Budget' };
const KV_OFFLOAD_LABELS: Record<KvOffload, string> = { auto: 'Automatic', gpu: 'GPU', cpu: 'CPU RAM' };
const APPEARANCE_LABELS: Record<Appearance, string> = { system: 'System', light: 'Light', dark: 'Dark' };

/** A schema's options in its order, with their words: what a choice offers. */
export function choicesOf<T extends string>(options: readonly T[], labels: Record<T, string>): Array<[T, string]> {
    return options.map((option) => [option, labels[option]]);
}

interface SettingsPanelProps {
    state: SettingsState | null;
    errors: Partial<Record<SettingKey, string>>;
    /** Cache types the chosen model supports; all when unknown. */
    kvCacheTypes?: readonly KvCacheType[];
    modelLoaded: boolean;
    /** What full heads in CPU RAM would cost, from the memory plan (said before the setting is chosen); null when the plan has none. */
    offloadCost?: string | null;
    onChange: (patch: Record<string, unknown>) => void;
    onReload: () => void;
}

/** A number typed as text: an empty box means the automatic value; anything else goes to validation as typed. */
function parseNumber(text: string, empty: null | 'auto'): unknown {
    const trimmed = text.trim();
    if (trimmed === '' || trimmed.toLowerCase() === 'auto' || trimmed.toLowerCase() === 'automatic') return empty;
    const value = Number(trimmed);
    return Number.isNaN(value) ? trimmed : value;
}

function Field({ id, label, children, error, pending, more }: { id: SettingKey; label: string; children: ReactNode; error?: string; pending: boolean; more?: readonly string[] }) {
    return (
        <div className="setting" data-testid={`setting-${id}`}>
            <label className="setting-label" htmlFor={`setting-${id}`}>
                {label}
                {pending && <span className="reload-tag" title="Takes effect when the model is reloaded">reload</span>}
            </label>
            {children}
            <span className="setting-help">{SETTING_HELP[id]}</span>
            {more?.map((line) => <span key={line} className="setting-help">{line}</span>)}
            {error != null && <span className="field-error" role="alert" data-testid={`setting-error-${id}`}>{error}</span>}
        </div>
    );
}

/** A text box that commits on Enter or when it loses focus, and shows the saved value otherwise. */
function TextBox({ id, value, placeholder, onCommit, error, inputMode = 'numeric' }: {
    id: SettingKey; value: string; placeholder: string; onCommit: (text: string) => void; error?: string; inputMode?: 'numeric' | 'text';
}) {
    const [draft, setDraft] = useState(value);
    // A refused value goes back to the kept one (the message says why).
    useEffect(() => setDraft(value), [value, error]);
    const invalid = error != null;
    const commit = () => {
        if (draft !== value) onCommit(draft);
    };
    return (
        <input
            id={`setting-${id}`} type="text" inputMode={inputMode} spellCheck={false} value={draft} placeholder={placeholder} aria-invalid={invalid}
            onChange={(e) => setDraft(e.target.value)} onBlur={commit}
            onKeyDown={(e) => {
                if (e.key === 'Enter') commit();
                if (e.key === 'Escape') setDraft(value);
            }}
        />
    );
}

function Choice<K extends SettingKey>({ id, value, options, onChange, disabled }: {
    id: K; value: string; options: Array<[string, string, boolean?]>; onChange: (value: string) => void; disabled?: boolean;
}) {
    return (
        <select id={`setting-${id}`} value={value} onChange={(e) => onChange(e.target.value)} disabled={disabled}>
            {options.map(([option, label, off]) => <option key={option} value={option} disabled={off}>{label}</option>)}
        </select>
    );
}

export function SettingsPanel({ state, errors, kvCacheTypes, modelLoaded, offloadCost, onChange, onReload }: SettingsPanelProps) {
    if (state == null) return <p className="muted">Loading settings…</p>;
    const s: Settings = state.settings;
    const pending = new Set(state.pendingReload);
    const field = (id: SettingKey, label: string, control: ReactNode, more?: readonly string[]) => (
        <Field id={id} label={label} error={errors[id]} pending={pending.has(id)} {...(more != null ? { more } : {})}>{control}</Field>
    );
    const set = (key: SettingKey) => (value: unknown) => onChange({ [key]: value });
    const cacheTypeOk = (type: KvCacheType) => kvCacheTypes == null || kvCacheTypes.includes(type);
    // The one rule between cache type and flash attention, said where each is chosen.
    const cacheTypeChoice = (type: KvCacheType): [string, string, boolean] => {
        if (!cacheTypeOk(type)) return [type, `${type} (not for this model)`, true];
        return quantizedCacheRefusal(type, s.flashAttention) != null ? [type, `${type} (needs flash attention)`, true] : [type, type, false];
    };
    const flashAttentionChoice = ([option, label]: [FlashAttention, string]): [string, string, boolean] =>
        quantizedCacheRefusal(s.kvCacheType, option) != null ? [option, `${label} (not with a ${s.kvCacheType} cache)`, true] : [option, label, false];
    const quantizedRule = s.flashAttention === 'off' ? KvCacheType.options.map((type) => quantizedCacheRefusal(type, 'off')).find((rule) => rule != null) ?? null : null;

    return (
        <div className="settings" data-testid="settings-panel">
            {modelLoaded && pending.size > 0 && (
                <div className="reload-banner" role="status" data-testid="reload-banner">
                    <span>{pending.size === 1 ? 'One change takes' : `${pending.size} changes take`} effect when the model is reloaded.</span>
                    <button type="button" className="button button-primary" onClick={onReload}>Reload model</button>
                </div>
            )}
            <fieldset>
                <legend>Model</legend>
                {field('engine', 'Engine', <Choice id="engine" value={s.engine} onChange={set('engine')} options={choicesOf(EngineChoice.options, ENGINE_LABELS)} />)}
                {field('gpuLayers', 'GPU layers', <TextBox id="gpuLayers" value={String(s.gpuLayers)} placeholder="auto" error={errors.gpuLayers} onCommit={(t) => set('gpuLayers')(parseNumber(t, 'auto'))} />)}
                {field('contextSize', 'Context size (tokens)', <TextBox id="contextSize" value={s.contextSize == null ? '' : String(s.contextSize)} placeholder="automatic" error={errors.contextSize} onCommit={(t) => set('contextSize')(parseNumber(t, null))} />)}
                {field('threads', 'Threads', <TextBox id="threads" value={s.threads == null ? '' : String(s.threads)} placeholder="automatic" error={errors.threads} onCommit={(t) => set('threads')(parseNumber(t, null))} />)}
                {field('flashAttention', 'Flash attention', <Choice id="flashAttention" value={s.flashAttention} onChange={set('flashAttention')} options={choicesOf(FlashAttention.options, FLASH_ATTENTION_LABELS).map(flashAttentionChoice)} />)}
            </fieldset>
            <fieldset>
                <legend>KV cache</legend>
                {field('kvMode', 'Compression', <Choice id="kvMode" value={s.kvMode} onChange={set('kvMode')} options={choicesOf(KvMode.options, KV_MODE_LABELS)} />,
                    s.kvMode === 'auto' ? [AUTO_COMPRESSION_HELP.withProfile, AUTO_COMPRESSION_HELP.withoutProfile] : undefined)}
                {field('kvBudget', 'Budget (% of the full cache)', <TextBox id="kvBudget" value={String(Math.round(s.kvBudget * 1000) / 10)} placeholder="50" error={errors.kvBudget} onCommit={(t) => {
                    const value = parseNumber(t, null);
                    set('kvBudget')(typeof value === 'number' ? value / 100 : value);
                }} />)}
                {field('sinks', 'Sinks (tokens)', <TextBox id="sinks" value={String(s.sinks)} placeholder="4" error={errors.sinks} onCommit={(t) => set('sinks')(parseNumber(t, null))} />)}
                {field('window', 'Window (tokens)', <TextBox id="window" value={String(s.window)} placeholder="128" error={errors.window} onCommit={(t) => set('window')(parseNumber(t, null))} />)}
                {field('kvOffload', 'Offload', <Choice id="kvOffload" value={s.kvOffload} onChange={set('kvOffload')} options={choicesOf(KvOffload.options, KV_OFFLOAD_LABELS)} />,
                    offloadCost != null ? [`CPU RAM: ${offloadCost}.`] : undefined)}
                {field('kvCacheType', 'Cache type', <Choice id="kvCacheType" value={s.kvCacheType} onChange={set('kvCacheType')} options={KvCacheType.options.map(cacheTypeChoice)} />,
                    quantizedRule != null ? [quantizedRule] : undefined)}
            </fieldset>
            <fieldset>
                <legend>Models</legend>
                {field('modelsFolder', 'Models folder', <TextBox id="modelsFolder" inputMode="text" value={s.modelsFolder ?? ''} placeholder="default" error={errors.modelsFolder} onCommit={(t) => set('modelsFolder')(t.trim() === '' ? null : t.trim())} />)}
            </fieldset>
            <fieldset>
                <legend>Appearance</legend>
                {field('appearance', 'Theme', <Choice id="appearance" value={s.appearance} onChange={set('appearance')} options={choicesOf(SettingsSchema.shape.appearance.options, APPEARANCE_LABELS)} />)}
            </fieldset>
        </div>
    );
}
