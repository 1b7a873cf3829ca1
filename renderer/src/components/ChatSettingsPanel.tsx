// The open chat's own settings, in a compact panel under its title: a system prompt, and the
// sampling (temperature, top-p, top-k, min-p, repeat penalty, longest reply). An empty box is the
// loaded model's default, shown in it; what is typed is saved with the chat when the box is left
// (or on Enter), checked by the backend. Also: the chat as Markdown.
import { useEffect, useState, type KeyboardEvent } from 'react';
import { SAMPLING_HELP, SAMPLING_KEYS, SAMPLING_LABELS, type ChatSettingsView, type SamplingKey, type SamplingOverrides } from '../../../common/chatSettings.ts';
import { errorMessage, HeadroomError } from '../../../common/errors.ts';
import { rpc } from '../bridge.ts';
import { useChatStore } from '../stores/chatStore.ts';
import { useEngineStore } from '../stores/engineStore.ts';

/** A refusal in the panel's words: "Top-k must be a whole number." rather than the request's field path. */
function refusalOf(failure: unknown): string {
    const message = errorMessage(failure);
    const field = failure instanceof HeadroomError ? failure.field : undefined;
    const key = field?.startsWith('sampling.') === true ? field.slice('sampling.'.length) as SamplingKey : null;
    if (key == null || !(key in SAMPLING_LABELS) || field == null) return message;
    const said = message.slice(message.indexOf(field) + field.length).trim();
    return `${SAMPLING_LABELS[key]} ${said}`;
}

const shown = (key: SamplingKey, value: number | null | undefined) => (value == null ? (key === 'maxTokens' ? 'no limit' : '') : String(value));

/** Downloads text as a file from the window (a browser saves it; Electron asks where). */
function download(fileName: string, text: string): void {
    const url = URL.createObjectURL(new Blob([text], { type: 'text/markdown;charset=utf-8' }));
    const link = document.createElement('a');
    link.href = url;
    link.download = fileName;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function SamplingBox({ name, view, refused, onCommit }: { name: SamplingKey; view: ChatSettingsView; refused: number; onCommit: (value: string) => void }) {
    const own = view.sampling[name];
    const saved = own == null ? '' : String(own);
    const [draft, setDraft] = useState(saved);
    // A refused value goes back to the kept one (the panel says why).
    useEffect(() => setDraft(saved), [saved, refused]);
    const commit = () => {
        if (draft.trim() !== saved) onCommit(draft.trim());
    };
    const origin = view.fromModel.includes(name) ? `${view.defaultsFrom ?? 'the model'}'s` : 'default';
    return (
        <label className="sampling-field" title={SAMPLING_HELP[name]}>
            <span>{SAMPLING_LABELS[name]}</span>
            <input
                type="text" inputMode="decimal" value={draft} placeholder={shown(name, view.defaults[name])} aria-describedby={`sampling-${name}-help`}
                data-testid={`sampling-${name}`} onChange={(e) => setDraft(e.target.value)} onBlur={commit}
                onKeyDown={(e) => {
                    if (e.key === 'Enter') commit();
                    if (e.key === 'Escape') setDraft(saved);
                }}
            />
            <span id={`sampling-${name}-help`} className="setting-help">{own == null ? origin : 'this chat\'s'}</span>
        </label>
    );
}

export function ChatActions() {
    const chatId = useChatStore((s) => s.view?.chat.id ?? null);
    const modelPath = useEngineStore((s) => s.engine?.model?.path ?? null);
    const [open, setOpen] = useState(false);
    const [view, setView] = useState<ChatSettingsView | null>(null);
    const [error, setError] = useState<string | null>(null);
    const [prompt, setPrompt] = useState('');
    const [refused, setRefused] = useState(0);

    // The chat's settings, and the defaults of whichever model is loaded.
    useEffect(() => {
        setView(null);
        setError(null);
        if (chatId == null) return;
        let current = true;
        rpc.request('chats.settings', { chatId }).then((found) => {
            if (!current) return;
            setView(found);
            setPrompt(found.systemPrompt);
        }, (failure: unknown) => current && setError(errorMessage(failure)));
        return () => {
            current = false;
        };
    }, [chatId, modelPath]);

    // Ctrl+, (⌘, on a Mac) opens and closes the panel.
    useEffect(() => {
        const onKey = (event: globalThis.KeyboardEvent) => {
            if ((event.ctrlKey || event.metaKey) && event.key === ',') {
                event.preventDefault();
                setOpen((shown) => !shown);
            }
        };
        window.addEventListener('keydown', onKey);
        return () => window.removeEventListener('keydown', onKey);
    }, []);

    if (chatId == null) return null;
    const save = (patch: { systemPrompt?: string; sampling?: SamplingOverrides }) => {
        rpc.request('chats.updateSettings', { chatId, ...patch }).then((saved) => {
            setView(saved);
            setError(null);
        }, (failure: unknown) => {
            setError(refusalOf(failure));
            setRefused((n) => n + 1);
        });
    };
    const setSampling = (name: SamplingKey, text: string) => {
        if (view == null) return;
        const rest: Record<string, unknown> = Object.fromEntries(Object.entries(view.sampling).filter(([key]) => key !== name));
        const value = text === '' ? undefined : name === 'maxTokens' && /^no limit$/i.test(text) ? null : Number(text);
        // What is not a number goes as typed: the backend refuses it in words.
        if (value !== undefined) rest[name] = Number.isNaN(value) ? text : value;
        save({ sampling: rest });
    };
    const exportChat = () => {
        rpc.request('chats.export', { chatId }).then(({ fileName, markdown }) => download(fileName, markdown), (failure: unknown) => setError(errorMessage(failure)));
    };
    const overrides = view == null ? 0 : Object.keys(view.sampling).length + (view.systemPrompt.trim() !== '' ? 1 : 0);
    const onPromptKey = (event: KeyboardEvent<HTMLTextAreaElement>) => {
        if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) save({ systemPrompt: prompt });
        if (event.key === 'Escape') setOpen(false);
    };

    return (
        <div className="chat-actions-bar">
            <button
                type="button" className="button button-small" aria-expanded={open} aria-controls="chat-settings" onClick={() => setOpen(!open)}
                title="This chat's system prompt and sampling (Ctrl+,)" data-testid="chat-settings-toggle"
            >
                Chat settings{overrides > 0 ? ` · ${overrides}` : ''}
            </button>
            <button type="button" className="button button-small" onClick={exportChat} title="Save this chat as Markdown" data-testid="chat-export">Export</button>
            {open && (
                <section id="chat-settings" className="chat-settings" aria-label="Chat settings" data-testid="chat-settings"
                    onKeyDown={(e) => e.key === 'Escape' && setOpen(false)}>
                    {view == null ? <p className="muted">{error ?? 'Loading…'}</p> : (
                        <>
                            <label className="system-prompt">
                                <span className="setting-label">System prompt</span>
                                <textarea
                                    value={prompt} rows={3} placeholder="Instructions for every reply in this chat (none by default)" data-testid="system-prompt"
                                    onChange={(e) => setPrompt(e.target.value)} onBlur={() => prompt !== view.systemPrompt && save({ systemPrompt: prompt })} onKeyDown={onPromptKey}
                                    autoFocus
                                />
                            </label>
                            <div className="sampling-grid">
                                {SAMPLING_KEYS.map((name) => <SamplingBox key={name} name={name} view={view} refused={refused} onCommit={(text) => setSampling(name, text)} />)}
                            </div>
                            <div className="chat-settings-foot">
                                <span className="setting-help">
                                    Empty boxes use {view.defaultsFrom != null ? `${view.defaultsFrom}'s defaults` : 'the defaults (no model is loaded)'}; the next reply uses what is here.
                                </span>
                                <button type="button" className="link-button" disabled={Object.keys(view.sampling).length === 0} onClick={() => save({ sampling: {} })}>Use the model's defaults</button>
                            </div>
                            {error != null && <p className="field-error" role="alert" data-testid="chat-settings-error">{error}</p>}
                        </>
                    )}
                </section>
            )}
        </div>
    );
}
