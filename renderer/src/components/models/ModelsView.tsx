// The Models view, in place of the chat: downloads, the models on this machine, and the
// catalog with what each model gives here. Escape goes back to the chat; "/" filters.
import { useEffect, useRef, useState } from 'react';
import { useEngineStore } from '../../stores/engineStore.ts';
import { useModelsStore } from '../../stores/modelsStore.ts';
import { EngineBanner } from '../EngineBanner.tsx';
import { StatusPill } from '../StatusPill.tsx';
import { CatalogList } from './CatalogList.tsx';
import { DownloadPanel } from './DownloadPanel.tsx';
import { LocalModelList } from './LocalModelList.tsx';

export function ModelsView() {
    const store = useModelsStore();
    const engine = useEngineStore((s) => s.engine);
    const [filter, setFilter] = useState('');
    const filterBox = useRef<HTMLInputElement>(null);
    const heading = useRef<HTMLHeadingElement>(null);
    const loadedPath = engine?.model?.path ?? null;
    const busy = engine?.status === 'loading' || engine?.status === 'generating' || engine?.status === 'starting';
    const { show } = store;

    useEffect(() => {
        heading.current?.focus();
        const onKey = (event: KeyboardEvent) => {
            const typing = event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement;
            if (event.key === 'Escape' && !(typing && (event.target as HTMLInputElement).value !== '')) {
                event.preventDefault();
                show(false);
            } else if (event.key === '/' && !typing) {
                event.preventDefault();
                filterBox.current?.focus();
            }
        };
        window.addEventListener('keydown', onKey);
        return () => window.removeEventListener('keydown', onKey);
    }, [show]);

    return (
        <main className="main models-view" aria-labelledby="models-heading" data-testid="models-view">
            <header className="topbar">
                <h1 id="models-heading" className="chat-title" tabIndex={-1} ref={heading}>Models</h1>
                <input
                    ref={filterBox} className="models-filter" type="search" value={filter} onChange={(e) => setFilter(e.target.value)}
                    placeholder="Filter models  ( / )" aria-label="Filter models" spellCheck={false}
                />
                <StatusPill />
                <button type="button" className="button button-small" onClick={() => void store.refresh()} disabled={store.local.loading || store.catalog.loading}>Refresh</button>
                <button type="button" className="button button-small" onClick={() => show(false)} title="Back to the chat (Esc)">Back to chat</button>
            </header>
            <EngineBanner />
            <div className="models-body">
                <DownloadPanel
                    folder={store.local.data?.folders.find((f) => f.origin === 'headroom')?.path ?? null} downloads={store.downloads} error={store.downloadError} loadedPath={loadedPath} busy={busy}
                    onDownload={store.download} onCancel={(id) => void store.cancel(id)} onDismiss={store.dismiss} onOpen={(path) => void store.openModel(path)}
                />
                <LocalModelList
                    local={store.local.data} loading={store.local.loading} error={store.local.error} filter={filter}
                    loadedPath={loadedPath} busy={busy} onOpen={(path) => void store.openModel(path)}
                />
                <CatalogList
                    catalog={store.catalog.data} loading={store.catalog.loading} error={store.catalog.error} filter={filter}
                    downloads={store.downloads} loadedPath={loadedPath} busy={busy}
                    onDownload={(entry) => void store.download(entry.uri, { open: true, ...(entry.sha256 != null ? { sha256: entry.sha256 } : {}) })}
                    onOpen={(path) => void store.openModel(path)}
                />
            </div>
        </main>
    );
}
