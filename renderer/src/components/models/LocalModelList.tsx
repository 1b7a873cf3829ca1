// The models already on this machine, whichever app downloaded them; Open loads one where it is.
import { formatSize, MODEL_ORIGIN_LABELS, type LocalModels } from '../../../../common/models.ts';
import { formatTokens } from '../../format.ts';

interface LocalModelListProps {
    local: LocalModels | null;
    loading: boolean;
    error: string | null;
    filter: string;
    loadedPath: string | null;
    busy: boolean;
    onOpen: (path: string) => void;
}

export function LocalModelList({ local, loading, error, filter, loadedPath, busy, onOpen }: LocalModelListProps) {
    const needle = filter.trim().toLowerCase();
    const models = (local?.models ?? []).filter((m) => needle === '' || `${m.name} ${m.architecture} ${MODEL_ORIGIN_LABELS[m.origin]}`.toLowerCase().includes(needle));
    const looked = local?.folders.filter((f) => f.exists) ?? [];
    return (
        <section className="models-section" aria-labelledby="local-heading">
            <h2 id="local-heading" className="panel-title">On this computer</h2>
            {error != null && <p className="field-error" role="alert">{error}</p>}
            {local == null && loading && <p className="muted">Looking for models…</p>}
            {local != null && local.models.length === 0 && (
                <p className="muted">No GGUF models yet. Download one below, or from LM Studio or Ollama: Headroom finds them where they are.</p>
            )}
            {models.length > 0 && (
                <table className="models-table" data-testid="local-models">
                    <thead>
                        <tr><th scope="col">Model</th><th scope="col">From</th><th scope="col">Architecture</th><th scope="col">Quant</th><th scope="col">Size</th><th scope="col">Trained for</th><th scope="col">Compression</th><th scope="col"><span className="visually-hidden">Open</span></th></tr>
                    </thead>
                    <tbody>
                        {models.map((m) => (
                            <tr key={m.path} data-testid="local-model">
                                <th scope="row">
                                    <span className="model-row-name">{m.name}</span>
                                    <span className="model-row-path" title={m.path}>{m.path}</span>
                                </th>
                                <td><span className={`origin origin-${m.origin}`}>{MODEL_ORIGIN_LABELS[m.origin]}</span></td>
                                <td>{m.architecture}</td>
                                <td>{m.quantization ?? '?'}</td>
                                <td className="num">{formatSize(m.sizeBytes)}{m.parts > 1 ? ` · ${m.parts} parts` : ''}</td>
                                <td className="num">{m.trainContextSize > 0 ? `${formatTokens(m.trainContextSize)} tokens` : '?'}</td>
                                <td>{m.headwise ? <span className="headwise-yes">Head-level</span> : <span className="muted" title={`Head-level compression does not support ${m.architecture} yet`}>Full cache only</span>}</td>
                                <td className="actions">
                                    {m.path === loadedPath
                                        ? <span className="loaded-tag">Loaded</span>
                                        : <button type="button" className="button button-small" disabled={busy} onClick={() => onOpen(m.path)} aria-label={`Open ${m.name}`}>Open</button>}
                                </td>
                            </tr>
                        ))}
                    </tbody>
                </table>
            )}
            {local != null && local.models.length > 0 && models.length === 0 && <p className="muted">No model here matches “{filter}”.</p>}
            {local != null && (local.notes.length > 0 || looked.length > 0) && (
                <details className="models-details">
                    <summary>
                        Looked in {looked.length} {looked.length === 1 ? 'folder' : 'folders'}
                        {local.notes.length > 0 && `; skipped ${local.notes.length} ${local.notes.length === 1 ? 'file' : 'files'}`}
                    </summary>
                    <ul>
                        {looked.map((f) => <li key={f.path}>{MODEL_ORIGIN_LABELS[f.origin]}: <code>{f.path}</code></li>)}
                        {local.notes.map((n) => <li key={n.path} className="models-note" data-testid="scan-note">{n.message}</li>)}
                    </ul>
                </details>
            )}
        </section>
    );
}
