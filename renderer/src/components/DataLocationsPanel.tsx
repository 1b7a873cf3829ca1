// Settings → Where your data lives: each kind of user data and its place (common/paths.ts). The
// desktop app opens the folder (the backend asks Electron's shell; the window runs no Node); a
// browser shows the path, to copy.
import { useEffect, useState } from 'react';
import { errorMessage } from '../../../common/errors.ts';
import type { DataKind, DataLocations } from '../../../common/paths.ts';
import { rpc } from '../bridge.ts';

export function DataLocationsPanel() {
    const [locations, setLocations] = useState<DataLocations | null>(null);
    const [error, setError] = useState<string | null>(null);
    useEffect(() => {
        rpc.request('app.dataLocations', {}).then(setLocations, (failure: unknown) => setError(errorMessage(failure)));
    }, []);
    const open = (kind: DataKind) => {
        rpc.request('app.openFolder', { kind }).then(() => setError(null), (failure: unknown) => setError(errorMessage(failure)));
    };
    return (
        <fieldset className="data-locations" data-testid="data-locations">
            <legend>Where your data lives</legend>
            {locations == null && error == null && <p className="muted">Looking…</p>}
            {locations?.kinds.map(({ kind, label, path }) => (
                <div key={kind} className="data-location" data-testid={`data-${kind}`}>
                    <span className="setting-label">{label}</span>
                    <span className="data-path">
                        <code title={path}>{path}</code>
                        {locations.canOpen && <button type="button" className="link-button" onClick={() => open(kind)} aria-label={`Open the folder of ${label}`}>Open folder</button>}
                    </span>
                </div>
            ))}
            {locations?.moved.map((line) => <p key={line} className="setting-help">{line}</p>)}
            {error != null && <p className="field-error" role="alert">{error}</p>}
        </fieldset>
    );
}
