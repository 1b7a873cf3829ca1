import { useState, type FormEvent } from 'react';
import { bridge } from '../bridge.ts';
import { formatBytes } from '../format.ts';
import { useEngineStore } from '../stores/engineStore.ts';
import { useMemoryStore } from '../stores/memoryStore.ts';
import { useModelsStore } from '../stores/modelsStore.ts';
import { useSettingsStore } from '../stores/settingsStore.ts';
import { needsProfile, ProfileHeads } from './memory/ProfileHeads.tsx';

function chatFormatLabel(mode: 'chat' | 'completion', wrapper: string): string {
    if (mode === 'completion') return 'none (plain text)';
    return wrapper === 'JinjaTemplate' ? "the model's own template" : wrapper;
}

export function ModelPanel() {
    const engine = useEngineStore((s) => s.engine);
    const loadProgress = useEngineStore((s) => s.loadProgress);
    const loadModel = useEngineStore((s) => s.loadModel);
    const pickModelFile = useEngineStore((s) => s.pickModelFile);
    const [path, setPath] = useState('');
    const setCandidatePath = useMemoryStore((s) => s.setCandidatePath);
    const updateSettings = useSettingsStore((s) => s.update);
    const engineChoice = useSettingsStore((s) => s.state?.settings.engine ?? 'compressed');
    const showModels = useModelsStore((s) => s.show);
    const modelsOpen = useModelsStore((s) => s.open);
    const model = engine?.model ?? null;
    // How the backend chose the context it sent (automatic, the setting, a one-off for this load).
    const contextChoice = engine?.load?.context ?? null;
    const busy = engine?.status === 'loading' || engine?.status === 'generating' || engine?.status === 'starting';

    const submit = (event: FormEvent) => {
        event.preventDefault();
        if (path.trim() === '') return;
        void loadModel(path.trim());
    };

    const browse = async () => {
        const picked = await pickModelFile();
        if (picked != null) {
            setPath(picked);
            void loadModel(picked);
        }
    };

    return (
        <section className="panel" aria-labelledby="model-heading">
            <div className="panel-head">
                <h2 id="model-heading" className="panel-title">Model</h2>
                <button
                    type="button" className="button button-small" onClick={() => showModels(!modelsOpen)} aria-pressed={modelsOpen}
                    aria-keyshortcuts="Control+Shift+M" title="Models on this computer, downloads and the catalog (Ctrl+Shift+M)"
                >
                    {modelsOpen ? 'Back to chat' : 'Models…'}
                </button>
            </div>
            {model != null ? (
                <dl className="model-card" data-testid="model-card">
                    <div className="model-name" title={model.path}>{model.name}</div>
                    <div className="model-facts">
                        <dt>Context</dt>
                        <dd data-testid="model-context">
                            {model.contextSize.toLocaleString('en-US')} tokens
                            {contextChoice != null && <span className="model-context-choice" data-testid="context-choice">{contextChoice.summary}</span>}
                        </dd>
                        <dt>Trained for</dt><dd>{model.trainContextSize.toLocaleString()} tokens</dd>
                        <dt>Layers</dt><dd>{model.layers}</dd>
                        <dt>File</dt><dd>{formatBytes(model.sizeBytes)}</dd>
                        <dt>Runs on</dt><dd data-testid="runs-on">{model.gpu === 'cpu' ? 'CPU' : model.gpu === 'cuda' ? 'CUDA' : model.gpu === 'metal' ? 'Metal' : 'Vulkan'}</dd>
                        <dt>Architecture</dt><dd>{model.architecture}</dd>
                        <dt>Chat format</dt><dd>{chatFormatLabel(model.chatMode, model.chatWrapper)}</dd>
                        <dt>KV compression</dt>
                        <dd data-testid="kv-compression" title={model.kv.reason ?? undefined}>
                            {model.kv.active ? 'On (head-level)' : model.kv.available ? (needsProfile(model) ? 'Off until profiled' : 'Off') : 'Unavailable'}
                        </dd>
                        {model.kv.available && model.kvMode !== 'off' && (
                            <>
                                <dt>Head profile</dt>
                                <dd data-testid="head-profile" title={model.headProfile?.path}>{model.headProfile?.description ?? 'None yet'}</dd>
                            </>
                        )}
                    </div>
                    {needsProfile(model) && <ProfileHeads model={model} variant="offer" />}
                    {model.engine.requested === 'stock' ? (
                        <div className="note note-action" data-testid="engine-stock">
                            <p>{model.kv.reason}</p>
                            <button type="button" className="button" disabled={busy || engineChoice !== 'stock'} onClick={() => void updateSettings({ engine: 'compressed' })}>
                                Compress again
                            </button>
                        </div>
                    ) : model.engine.note != null ? (
                        <div className="note note-action" data-testid="engine-note">
                            <p>{model.engine.note}</p>
                            {model.engine.kind === 'headwise' && model.engine.backend === 'cpu' && (
                                <button type="button" className="button" disabled={busy} onClick={() => void updateSettings({ engine: 'stock' })}>
                                    Use the GPU without compression
                                </button>
                            )}
                        </div>
                    ) : !model.kv.available && model.kv.reason != null && (
                        <p className="note" data-testid="kv-unavailable">{model.kv.reason}</p>
                    )}
                    {model.chatMode === 'completion' && (
                        <p className="note" data-testid="completion-note">
                            This model has no chat template, so Headroom continues your text as plain completion.
                        </p>
                    )}
                </dl>
            ) : (
                <p className="muted">No model loaded. Pick one in <strong>Models…</strong> (on this computer, or downloaded), or type a GGUF file&apos;s path.</p>
            )}

            <form className="model-form" onSubmit={submit}>
                <label className="field">
                    <span>Model file (.gguf)</span>
                    <div className="field-row">
                        <input
                            type="text"
                            value={path}
                            onChange={(e) => {
                                setPath(e.target.value);
                                // Plan the typed model before it is loaded.
                                setCandidatePath(e.target.value.trim().endsWith('.gguf') ? e.target.value : null);
                            }}
                            placeholder="/path/to/model.gguf"
                            spellCheck={false}
                            aria-label="Model file path"
                        />
                        {bridge.kind === 'electron' && (
                            <button type="button" className="button" onClick={() => void browse()} disabled={busy}>Browse…</button>
                        )}
                    </div>
                </label>
                <button type="submit" className="button button-primary" disabled={busy || path.trim() === ''}>
                    {model != null ? 'Load another model' : 'Load model'}
                </button>
            </form>

            {loadProgress != null && (
                <div className="progress" role="progressbar" aria-label="Loading model" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(loadProgress * 100)}>
                    <div className="progress-bar" style={{ width: `${Math.round(loadProgress * 100)}%` }} />
                    <span className="progress-label">Loading… {Math.round(loadProgress * 100)}%</span>
                </div>
            )}
        </section>
    );
}
