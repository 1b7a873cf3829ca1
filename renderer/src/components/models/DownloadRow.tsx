// One download: its progress with speed and time left while it runs, then what became of it
// and what can be done next (open it, try again, or put it away).
import { formatDuration, formatSize, isFinished, type DownloadState } from '../../../../common/models.ts';
import { percent } from '../../format.ts';

interface DownloadRowProps {
    download: DownloadState;
    /** The model is loaded now. */
    loaded: boolean;
    busy: boolean;
    onCancel: () => void;
    onRetry: () => void;
    onDismiss: () => void;
    onOpen: (path: string) => void;
}

function statusLine(d: DownloadState): string {
    switch (d.status) {
        case 'resolving': return 'Looking up the file…';
        case 'verifying': return 'Checking the file…';
        case 'done': return `Downloaded ${formatSize(d.totalBytes)}${d.resumedFromBytes > 0 ? ` (resumed from ${formatSize(d.resumedFromBytes)})` : ''}.`;
        case 'cancelled': return 'Cancelled; nothing was kept.';
        case 'failed': return d.error ?? 'The download failed.';
        case 'downloading': {
            if (d.totalBytes === 0) return `${formatSize(d.receivedBytes)} so far`;
            const parts = [`${formatSize(d.receivedBytes)} of ${formatSize(d.totalBytes)}`];
            if (d.bytesPerSecond > 0) parts.push(`${formatSize(d.bytesPerSecond)}/s`);
            if (d.etaSeconds != null && d.bytesPerSecond > 0) parts.push(`${formatDuration(d.etaSeconds)} left`);
            return parts.join(' · ');
        }
    }
}

export function DownloadRow({ download: d, loaded, busy, onCancel, onRetry, onDismiss, onOpen }: DownloadRowProps) {
    const done = percent(d.receivedBytes, d.totalBytes);
    const running = !isFinished(d.status);
    const name = d.fileName ?? d.source;
    return (
        <li className={`download download-${d.status}`} data-testid="download" data-status={d.status}>
            <div className="download-head">
                <span className="download-name" title={d.source}>{name}</span>
                {d.status === 'downloading' && d.totalBytes > 0 && <span className="download-percent">{Math.floor(done)}%</span>}
            </div>
            {running && (
                <div
                    className="mini-progress download-bar" role="progressbar" aria-label={`Downloading ${name}`}
                    aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.floor(done)}
                >
                    <span style={{ width: `${d.status === 'verifying' ? 100 : done}%` }} />
                </div>
            )}
            <div className="download-foot">
                <span className={d.status === 'failed' ? 'download-error' : 'download-status'} role={d.status === 'failed' ? 'alert' : undefined} data-testid="download-status">
                    {statusLine(d)}
                </span>
                <span className="download-actions">
                    {running && <button type="button" className="button button-small" onClick={onCancel}>Cancel</button>}
                    {d.status === 'done' && d.path != null && !loaded && (
                        <button type="button" className="button button-small button-primary" disabled={busy} onClick={() => d.path != null && onOpen(d.path)}>Open</button>
                    )}
                    {d.status === 'done' && loaded && <span className="loaded-tag">Loaded</span>}
                    {d.status === 'failed' && <button type="button" className="button button-small" onClick={onRetry}>Try again</button>}
                    {!running && <button type="button" className="icon-button" onClick={onDismiss} aria-label={`Dismiss ${name}`} title="Dismiss">×</button>}
                </span>
            </div>
        </li>
    );
}
