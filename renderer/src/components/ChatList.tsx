import { useState, type KeyboardEvent } from 'react';
import { useChatStore } from '../stores/chatStore.ts';
import { ChatSearch } from './ChatSearch.tsx';

/** Every chat, newest first: open, rename (double-click or F2), delete; or, while searching, what matched. */
export function ChatList() {
    const chats = useChatStore((s) => s.chats);
    const openId = useChatStore((s) => s.view?.chat.id);
    const openChat = useChatStore((s) => s.openChat);
    const newChat = useChatStore((s) => s.newChat);
    const renameChat = useChatStore((s) => s.renameChat);
    const deleteChat = useChatStore((s) => s.deleteChat);
    const [editing, setEditing] = useState<{ id: string; title: string } | null>(null);
    // Deleting takes a second click on the same button, so a stray click loses nothing.
    const [confirming, setConfirming] = useState<string | null>(null);
    const [searching, setSearching] = useState(false);

    const commit = () => {
        if (editing != null) void renameChat(editing.id, editing.title);
        setEditing(null);
    };
    const onEditKey = (event: KeyboardEvent<HTMLInputElement>) => {
        if (event.key === 'Enter') commit();
        else if (event.key === 'Escape') setEditing(null);
    };

    return (
        <section className="panel" aria-labelledby="chats-heading">
            <div className="panel-head">
                <h2 id="chats-heading" className="panel-title">Chats</h2>
                <button type="button" className="button button-small" onClick={() => void newChat()} title="New chat">+ New</button>
            </div>
            {chats.length > 0 && <ChatSearch onActive={setSearching} />}
            {chats.length === 0 && <p className="muted">No chats yet.</p>}
            <ul className="chat-list" aria-label="Chats" hidden={searching}>
                {chats.map((chat) => (
                    <li key={chat.id} className={chat.id === openId ? 'chat-item chat-item-open' : 'chat-item'}>
                        {editing?.id === chat.id ? (
                            <input
                                className="chat-rename"
                                value={editing.title}
                                onChange={(e) => setEditing({ id: chat.id, title: e.target.value })}
                                onKeyDown={onEditKey}
                                onBlur={commit}
                                aria-label="Chat title"
                                autoFocus
                            />
                        ) : (
                            <button
                                type="button"
                                className="chat-open"
                                onClick={() => void openChat(chat.id)}
                                onDoubleClick={() => setEditing({ id: chat.id, title: chat.title })}
                                onKeyDown={(e) => e.key === 'F2' && setEditing({ id: chat.id, title: chat.title })}
                                aria-current={chat.id === openId ? 'page' : undefined}
                                title={chat.title}
                            >
                                {chat.title}
                            </button>
                        )}
                        <span className="chat-actions">
                            <button type="button" className="icon-button" onClick={() => setEditing({ id: chat.id, title: chat.title })} aria-label={`Rename ${chat.title}`} title="Rename">✎</button>
                            {confirming === chat.id ? (
                                <button type="button" className="button button-small button-danger" onClick={() => void deleteChat(chat.id)} onBlur={() => setConfirming(null)} autoFocus>Delete</button>
                            ) : (
                                <button type="button" className="icon-button" onClick={() => setConfirming(chat.id)} aria-label={`Delete ${chat.title}`} title="Delete">×</button>
                            )}
                        </span>
                    </li>
                ))}
            </ul>
        </section>
    );
}
