// Get a model by its Hugging Face URI or a URL, and follow every download.
import { useState, type FormEvent } from 'react';
import type { DownloadState } from '../../../../common/models.ts';
import { DownloadRow } from './DownloadRow.tsx';

interface DownloadPanelProps {
    /** Headroom's models folder, where downloads go. */
    folder: string | null;
    downloads: DownloadState[];
    error: string | null;
    loadedPath: string | null;
    busy: boolean;
    onDownload: (source: string, options?: { open?: boolean; sha256?: string }) => Promise<boolean>;
    onCancel: (id: string) => void;
    onDismiss: (id: string) => void;
    onOpen: (path: string) => void;
}

export function DownloadPanel({ folder, downloads, error, loadedPath, busy, onDownload, onCancel, onDismiss, onOpen }: DownloadPanelProps) {
    const [source, setSource] = useState('');
    const submit = async (event: FormEvent) => {
        event.preventDefault();
        if (source.trim() === '') return;
        // Asked for by address: opened once it is in, as the user would next do.
        if (await onDownload(source.trim(), { open: true })) setSource('');
    };
    return (
        <section className="models-section" aria-labelledby="download-heading">
            <h2 id="download-heading" className="panel-title">Download</h2>
            <form className="download-form" onSubmit={(e) => void submit(e)}>
                <input
                    type="text" value={source} onChange={(e) => setSource(e.target.value)} spellCheck={false}
                    placeholder="hf:user/repo:Q4_K_M, hf:user/repo/file.gguf, or https://…/model.gguf"
                    aria-label="Model address" aria-invalid={error != null} aria-describedby={error != null ? 'download-error' : undefined}
                />
                <button type="submit" className="button button-primary" disabled={source.trim() === ''}>Download</button>
            </form>
            {error != null && <p id="download-error" className="field-error" role="alert">{error}</p>}
            {folder != null && <p className="muted models-caption" data-testid="models-folder">Downloads go to <code>{folder}</code> (the models folder in the settings).</p>}
            {downloads.length > 0 && (
                <ul className="download-list" aria-label="Downloads">
                    {[...downloads].reverse().map((d) => (
                        <DownloadRow
                            key={d.id} download={d} loaded={d.path != null && d.path === loadedPath} busy={busy}
                            onCancel={() => onCancel(d.id)} onDismiss={() => onDismiss(d.id)} onOpen={onOpen}
                            onRetry={() => void onDownload(d.source, { open: d.open, ...(d.sha256 != null ? { sha256: d.sha256 } : {}) })}
                        />
                    ))}
                </ul>
            )}
        </section>
    );
}
