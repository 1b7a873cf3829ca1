import { useEngineStore } from '../stores/engineStore.ts';

/** Engine failures in plain words, with the way out next to them. */
export function EngineBanner() {
    const engine = useEngineStore((s) => s.engine);
    const connection = useEngineStore((s) => s.connection);
    const actionError = useEngineStore((s) => s.actionError);
    const restart = useEngineStore((s) => s.restart);
    const dismissError = useEngineStore((s) => s.dismissError);

    if (connection === 'lost') {
        return <div className="banner banner-warning" role="alert">Lost the connection to Headroom. Reconnecting…</div>;
    }
    if (engine?.status === 'crashed') {
        return (
            <div className="banner banner-error" role="alert" data-testid="engine-crashed">
                <span>{engine.error?.message ?? 'The engine stopped.'}</span>
                <button type="button" className="button button-primary" onClick={() => void restart()}>Restart engine</button>
            </div>
        );
    }
    if (actionError != null) {
        return (
            <div className="banner banner-error" role="alert">
                <span>{actionError}</span>
                <button type="button" className="button" onClick={dismissError} aria-label="Dismiss">Dismiss</button>
            </div>
        );
    }
    return null;
}
