// Search over every chat's title and messages (the backend's SQLite FTS5): Ctrl+K (⌘K) or "/"
// in the chat list focuses it; ↑/↓ move through the results, Enter opens one, Esc clears.
import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import type { SearchHit } from '../../../common/chatSearch.ts';
import { errorMessage } from '../../../common/errors.ts';
import { plural } from '../../../common/words.ts';
import { rpc } from '../bridge.ts';
import { useChatStore } from '../stores/chatStore.ts';

/** The search box; `onResults` says whether results are shown instead of the chat list. */
export function ChatSearch({ onActive }: { onActive: (active: boolean) => void }) {
    const openChat = useChatStore((s) => s.openChat);
    const [query, setQuery] = useState('');
    const [hits, setHits] = useState<SearchHit[] | null>(null);
    const [error, setError] = useState<string | null>(null);
    const [selected, setSelected] = useState(0);
    const box = useRef<HTMLInputElement>(null);

    useEffect(() => {
        const onKey = (event: globalThis.KeyboardEvent) => {
            if ((event.ctrlKey || event.metaKey) && !event.shiftKey && event.key.toLowerCase() === 'k') {
                event.preventDefault();
                box.current?.focus();
                box.current?.select();
            }
        };
        window.addEventListener('keydown', onKey);
        return () => window.removeEventListener('keydown', onKey);
    }, []);

    useEffect(() => {
        const text = query.trim();
        onActive(text !== '');
        if (text === '') {
            setHits(null);
            return;
        }
        let current = true;
        // A short pause, so typing a word sends one search, not one per letter.
        const timer = setTimeout(() => {
            rpc.request('chats.search', { query: text }).then((found) => {
                if (!current) return;
                setHits(found);
                setError(null);
                setSelected(0);
            }, (failure: unknown) => current && setError(errorMessage(failure)));
        }, 120);
        return () => {
            current = false;
            clearTimeout(timer);
        };
    }, [query, onActive]);

    const open = (hit: SearchHit | undefined) => {
        if (hit == null) return;
        void openChat(hit.chatId);
        setQuery('');
    };
    const onKey = (event: KeyboardEvent<HTMLInputElement>) => {
        if (event.key === 'Escape') setQuery('');
        else if (event.key === 'ArrowDown') setSelected((i) => Math.min(i + 1, (hits?.length ?? 1) - 1));
        else if (event.key === 'ArrowUp') setSelected((i) => Math.max(i - 1, 0));
        else if (event.key === 'Enter') open(hits?.[selected]);
        else return;
        event.preventDefault();
    };

    return (
        <div className="chat-search">
            <input
                ref={box} type="search" className="chat-search-box" placeholder="Search chats (Ctrl+K)" aria-label="Search chats" value={query}
                onChange={(e) => setQuery(e.target.value)} onKeyDown={onKey} data-testid="chat-search"
                aria-controls="chat-search-results" aria-activedescendant={hits?.[selected] != null ? `search-hit-${selected}` : undefined}
            />
            {error != null && <p className="field-error" role="alert">{error}</p>}
            {hits != null && (
                <>
                    <p className="muted search-count" role="status">{hits.length === 0 ? 'Nothing found.' : plural('match', hits.length, 'matches')}</p>
                    <ul id="chat-search-results" className="search-results" role="listbox" aria-label="Search results">
                        {hits.map((hit, index) => (
                            <li key={`${hit.chatId}:${hit.messageId ?? 'title'}`} id={`search-hit-${index}`} role="option" aria-selected={index === selected}>
                                <button type="button" className={index === selected ? 'search-hit search-hit-selected' : 'search-hit'} onClick={() => open(hit)} tabIndex={-1} data-testid="search-hit">
                                    <span className="search-hit-title">{hit.messageId == null ? <Marked parts={hit.parts} /> : hit.title}</span>
                                    {hit.messageId != null && <span className="search-hit-snippet"><Marked parts={hit.parts} /></span>}
                                </button>
                            </li>
                        ))}
                    </ul>
                </>
            )}
        </div>
    );
}

function Marked({ parts }: { parts: SearchHit['parts'] }) {
    return <>{parts.map((part, index) => (part.match ? <mark key={index}>{part.text}</mark> : <span key={index}>{part.text}</span>))}</>;
}
