import type { EngineStatus } from '../../../common/contract.ts';
import { useEngineStore } from '../stores/engineStore.ts';

const LABELS: Record<EngineStatus, string> = {
    starting: 'Starting engine…',
    idle: 'No model loaded',
    loading: 'Loading model…',
    ready: 'Ready',
    generating: 'Generating…',
    crashed: 'Engine stopped',
};

export function StatusPill() {
    const engine = useEngineStore((s) => s.engine);
    const connection = useEngineStore((s) => s.connection);
    const status = connection === 'lost' ? 'crashed' : engine?.status ?? 'starting';
    const label = connection === 'lost' ? 'Disconnected' : LABELS[status];
    return (
        <div className={`status-pill status-${status}`} role="status" aria-live="polite" data-testid="engine-status">
            <span className="status-dot" aria-hidden="true" />
            {label}
            {engine?.model != null && connection === 'open' && <span className="status-model">{engine.model.name}</span>}
        </div>
    );
}
