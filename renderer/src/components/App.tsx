import { ChatView } from './ChatView.tsx';
import { Composer } from './Composer.tsx';
import { EngineBanner } from './EngineBanner.tsx';
import { MemoryAside } from './MemoryAside.tsx';
import { ModelPanel } from './ModelPanel.tsx';
import { SettingsSection } from './SettingsSection.tsx';
import { StatusPill } from './StatusPill.tsx';

/** The app frame: a sidebar for the model and settings, the chat, and memory and the chat. */
export function App() {
    return (
        <div className="app">
            <aside className="sidebar" aria-label="Model and settings">
                <header className="brand">
                    <span className="brand-mark" aria-hidden="true" />
                    <span className="brand-name">Headroom</span>
                </header>
                <ModelPanel />
                <SettingsSection />
            </aside>
            <main className="main">
                <header className="topbar">
                    <StatusPill />
                </header>
                <EngineBanner />
                <ChatView />
                <Composer />
            </main>
            <MemoryAside />
        </div>
    );
}
