import { useEffect, useState, type DragEvent } from 'react';
import { useChatStore } from '../stores/chatStore.ts';
import { useModelsStore } from '../stores/modelsStore.ts';
import { ChatList } from './ChatList.tsx';
import { ChatActions } from './ChatSettingsPanel.tsx';
import { ChatView } from './ChatView.tsx';
import { Composer } from './Composer.tsx';
import { DocumentsBar } from './DocumentsBar.tsx';
import { EngineBanner } from './EngineBanner.tsx';
import { MemoryAside } from './MemoryAside.tsx';
import { ModelPanel } from './ModelPanel.tsx';
import { ModelsView } from './models/ModelsView.tsx';
import { ReloadOfferBanner } from './ReloadOfferBanner.tsx';
import { SettingsSection } from './SettingsSection.tsx';
import { StatusPill } from './StatusPill.tsx';

const hasFiles = (event: DragEvent) => [...event.dataTransfer.types].includes('Files');

function ChatBanner() {
    const error = useChatStore((s) => s.error);
    const dismiss = useChatStore((s) => s.dismissError);
    if (error == null) return null;
    return (
        <div className="banner banner-error" role="alert" data-testid="chat-error">
            <span>{error}</span>
            <button type="button" className="button" onClick={dismiss} aria-label="Dismiss">Dismiss</button>
        </div>
    );
}

/**
 * The app frame: chats, the model and settings on the left; the open chat, its documents and
 * the composer; memory on the right. The Models view takes the place of the chat and memory.
 */
export function App() {
    const [dragging, setDragging] = useState(false);
    const addFiles = useChatStore((s) => s.addFiles);
    const title = useChatStore((s) => s.view?.chat.title ?? 'Headroom');
    const modelsOpen = useModelsStore((s) => s.open);
    const showModels = useModelsStore((s) => s.show);

    useEffect(() => {
        const onKey = (event: KeyboardEvent) => {
            if ((event.ctrlKey || event.metaKey) && !event.shiftKey && event.key.toLowerCase() === 'o') {
                event.preventDefault();
                document.getElementById('attach-input')?.click();
            }
            if ((event.ctrlKey || event.metaKey) && event.shiftKey && event.key.toLowerCase() === 'm') {
                event.preventDefault();
                showModels(!useModelsStore.getState().open);
            }
        };
        window.addEventListener('keydown', onKey);
        return () => window.removeEventListener('keydown', onKey);
    }, [showModels]);

    const onDrop = (event: DragEvent) => {
        event.preventDefault();
        setDragging(false);
        const files = [...event.dataTransfer.files];
        if (files.length > 0) void addFiles(files);
    };

    return (
        <div
            className="app"
            onDragOver={(e) => {
                if (!hasFiles(e)) return;
                e.preventDefault();
                setDragging(true);
            }}
            onDragLeave={(e) => {
                if (e.relatedTarget == null) setDragging(false);
            }}
            onDrop={onDrop}
        >
            <aside className="sidebar" aria-label="Chats, model and settings">
                <header className="brand">
                    <span className="brand-mark" aria-hidden="true" />
                    <span className="brand-name">Headroom</span>
                </header>
                <ChatList />
                <ModelPanel />
                <SettingsSection />
            </aside>
            {modelsOpen ? <ModelsView /> : (
                <>
                    <main className="main">
                        <header className="topbar">
                            <h1 className="chat-title">{title}</h1>
                            <ChatActions />
                            <StatusPill />
                        </header>
                        <EngineBanner />
                        <ChatBanner />
                        <ReloadOfferBanner />
                        <DocumentsBar />
                        <ChatView />
                        <Composer />
                    </main>
                    <MemoryAside />
                </>
            )}
            {dragging && (
                <div className="drop-overlay" aria-hidden="true">
                    <div className="drop-card">
                        <strong>Drop to add to this chat</strong>
                        <span>PDF, Word, EPUB, HTML, Markdown, text or source code</span>
                    </div>
                </div>
            )}
        </div>
    );
}
