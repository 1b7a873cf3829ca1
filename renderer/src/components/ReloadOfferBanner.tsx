// The refusal of a document the context cannot hold, with what would help as buttons: "Reload with
// 64K tokens: KV 2.1 GiB compressed, fits". Taking one shows the reload's progress, then the
// document is added. Esc dismisses it; the first action has the focus.
import { useEffect, useRef } from 'react';
import { useChatStore } from '../stores/chatStore.ts';
import { useEngineStore } from '../stores/engineStore.ts';
import { useReloadOfferStore } from '../stores/reloadOfferStore.ts';

export function ReloadOfferBanner() {
    const offer = useReloadOfferStore((s) => s.offer);
    const phase = useReloadOfferStore((s) => s.phase);
    const taking = useReloadOfferStore((s) => s.taking);
    const error = useReloadOfferStore((s) => s.error);
    const take = useReloadOfferStore((s) => s.take);
    const dismiss = useReloadOfferStore((s) => s.dismiss);
    const addFiles = useChatStore((s) => s.addFiles);
    const loadProgress = useEngineStore((s) => s.loadProgress);
    const engineBusy = useEngineStore((s) => s.engine?.status !== 'ready');
    const first = useRef<HTMLButtonElement>(null);

    useEffect(() => {
        if (offer != null) first.current?.focus();
    }, [offer]);

    if (offer == null) return null;
    const busy = phase !== 'offered';
    const percent = Math.round((loadProgress ?? 0) * 100);
    return (
        <div
            className="banner banner-offer" role="alertdialog" aria-labelledby="reload-offer-message" data-testid="reload-offer"
            onKeyDown={(event) => {
                if (event.key === 'Escape') dismiss();
            }}
        >
            <div className="offer-body">
                <p id="reload-offer-message" data-testid="reload-offer-message">{offer.message}</p>
                {error != null && <p className="field-error" role="alert" data-testid="reload-offer-error">{error}</p>}
                {phase === 'reloading' && (
                    <div className="progress" role="progressbar" aria-label="Reloading the model" aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent} data-testid="reload-offer-progress">
                        <div className="progress-bar" style={{ width: `${percent}%` }} />
                        <span className="progress-label">{taking?.label.replace(/:.*$/, '')}… {percent}%</span>
                    </div>
                )}
                {offer.actions.length > 0 && phase === 'offered' && (
                    <div className="offer-actions">
                        {offer.actions.map((action, index) => (
                            <button
                                key={action.label} ref={index === 0 ? first : undefined} type="button" data-testid="reload-offer-action"
                                className={`button ${index === 0 ? 'button-primary' : ''}`} disabled={busy || engineBusy}
                                onClick={() => void take(action, addFiles)}
                            >
                                {action.label}
                            </button>
                        ))}
                    </div>
                )}
            </div>
            <button type="button" className="button" onClick={dismiss} disabled={busy} aria-label="Dismiss" ref={offer.actions.length === 0 ? first : undefined}>Dismiss</button>
        </div>
    );
}
