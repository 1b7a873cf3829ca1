// The curated long-context models and, for each, the longest context this machine holds with
// the full cache and with head-level compression: what Headroom gives, at a glance.
import { formatSize, type CatalogEntry, type CatalogView, type ContextFit, type DownloadState } from '../../../../common/models.ts';
import { formatTokens, percent } from '../../format.ts';

interface CatalogListProps {
    catalog: CatalogView | null;
    loading: boolean;
    error: string | null;
    filter: string;
    downloads: DownloadState[];
    loadedPath: string | null;
    busy: boolean;
    onDownload: (entry: CatalogEntry) => void;
    onOpen: (path: string) => void;
}

/** Context sizes as model cards say them: 128K for 131,072 tokens, 1M for a million. */
function tokensShort(tokens: number): string {
    if (tokens >= 1_000_000) return `${(tokens / 1_000_000).toFixed(1).replace(/\.0$/, '')}M`;
    return tokens >= 1000 ? `${Math.round(tokens / 1024)}K` : String(tokens);
}

function FitBar({ label, fit, of, kind }: { label: string; fit: ContextFit | null; of: number; kind: 'full' | 'compressed' }) {
    return (
        <div className={`fit fit-${kind}`}>
            <span className="fit-label">{label}</span>
            <span className="fit-track" aria-hidden="true"><span style={{ width: `${fit == null ? 0 : percent(fit.contextSize, of)}%` }} /></span>
            <span className="fit-value" title={fit?.message}>{fit == null ? '—' : fit.contextSize === 0 ? 'does not fit' : tokensShort(fit.contextSize)}</span>
        </div>
    );
}

function Verdict({ entry, budget }: { entry: CatalogEntry; budget: number }) {
    const verdict = entry.verdict;
    if (verdict == null) return <span className="muted">Not planned</span>;
    const compressedLabel = `Compressed ${Math.round(budget * 100)}%`;
    return (
        <div className="fits" data-testid="verdict" aria-label={[
            `Full cache: ${verdict.full.contextSize === 0 ? 'does not fit' : `${formatTokens(verdict.full.contextSize)} tokens`}`,
            verdict.compressed == null ? `head-level compression does not support ${entry.architecture} yet` : `${compressedLabel}: ${formatTokens(verdict.compressed.contextSize)} tokens`,
        ].join('; ')}>
            <FitBar label="Full cache" fit={verdict.full} of={entry.trainContextSize} kind="full" />
            {verdict.compressed != null
                ? <FitBar label={compressedLabel} fit={verdict.compressed} of={entry.trainContextSize} kind="compressed" />
                : <div className="fit fit-none"><span className="fit-label">Compression</span><span className="muted">not for {entry.architecture} yet</span></div>}
        </div>
    );
}

export function CatalogList({ catalog, loading, error, filter, downloads, loadedPath, busy, onDownload, onOpen }: CatalogListProps) {
    const needle = filter.trim().toLowerCase();
    const entries = (catalog?.models ?? []).filter((m) => needle === '' || `${m.name} ${m.publisher} ${m.architecture}`.toLowerCase().includes(needle));
    return (
        <section className="models-section" aria-labelledby="catalog-heading">
            <h2 id="catalog-heading" className="panel-title">Long-context models for this machine</h2>
            {error != null && <p className="field-error" role="alert">{error}</p>}
            {catalog == null && loading && <p className="muted">Planning each model for this machine…</p>}
            {catalog?.verdictError != null && <p className="field-error" role="alert">{catalog.verdictError}</p>}
            {catalog != null && (
                <p className="muted models-caption">
                    The longest context that fits this machine&apos;s free memory, planned from each model&apos;s published size and shape,
                    with the full cache and with head-level compression keeping {Math.round(catalog.budget * 100)}% of it. Bars are out of what the model was trained for.
                </p>
            )}
            {entries.length > 0 && (
                <ul className="catalog" data-testid="catalog">
                    {entries.map((entry) => {
                        const active = downloads.find((d) => d.source === entry.uri && (d.status === 'resolving' || d.status === 'downloading' || d.status === 'verifying'));
                        return (
                            <li key={entry.id} className="catalog-entry" data-testid="catalog-entry">
                                <div className="catalog-about">
                                    <span className="catalog-name">{entry.name}</span>
                                    <span className="catalog-meta">{entry.publisher} · {entry.architecture} · {entry.quantization} · {formatSize(entry.sizeBytes)} · trained for {tokensShort(entry.trainContextSize)} tokens</span>
                                    <span className="catalog-blurb">{entry.blurb}</span>
                                    <code className="catalog-uri">{entry.uri}</code>
                                </div>
                                <Verdict entry={entry} budget={catalog?.budget ?? 0.5} />
                                <div className="actions">
                                    {entry.localPath != null && entry.localPath === loadedPath && <span className="loaded-tag">Loaded</span>}
                                    {entry.localPath != null && entry.localPath !== loadedPath && (
                                        <button type="button" className="button button-small" disabled={busy} onClick={() => entry.localPath != null && onOpen(entry.localPath)} aria-label={`Open ${entry.name}`}>Open</button>
                                    )}
                                    {entry.localPath == null && (
                                        <button type="button" className="button button-small button-primary" disabled={active != null} onClick={() => onDownload(entry)} aria-label={`Download ${entry.name}`}>
                                            {active != null ? 'Downloading…' : 'Download'}
                                        </button>
                                    )}
                                </div>
                            </li>
                        );
                    })}
                </ul>
            )}
            {catalog != null && <p className="muted models-source">{catalog.source}</p>}
        </section>
    );
}
