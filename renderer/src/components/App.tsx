import { ChatView } from './ChatView.tsx';
import { Composer } from './Composer.tsx';
import { EngineBanner } from './EngineBanner.tsx';
import { ModelPanel } from './ModelPanel.tsx';
import { StatusPill } from './StatusPill.tsx';

/** The app frame: a sidebar for the model (later: documents, settings, gauges) and the chat. */
export function App() {
    return (
        <div className="app">
            <aside className="sidebar" aria-label="Model and settings">
                <header className="brand">
                    <span className="brand-mark" aria-hidden="true" />
                    <span className="brand-name">Headroom</span>
                </header>
                <ModelPanel />
            </aside>
            <main className="main">
                <header className="topbar">
                    <StatusPill />
                </header>
                <EngineBanner />
                <ChatView />
                <Composer />
            </main>
        </div>
    );
}
