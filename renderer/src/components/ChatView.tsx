import { useEffect, useRef } from 'react';
import { useChatStore, type Message } from '../stores/chatStore.ts';
import { useEngineStore } from '../stores/engineStore.ts';

function MessageItem({ message }: { message: Message }) {
    const retry = useChatStore((s) => s.retry);
    const streaming = message.status === 'streaming' && message.role === 'assistant';
    return (
        <article className={`message message-${message.role} message-${message.status}`} data-testid={`message-${message.role}`}>
            <div className="message-role">{message.role === 'user' ? 'You' : 'Model'}</div>
            <div className="message-text">
                {message.text}
                {streaming && <span className="cursor" aria-hidden="true" />}
            </div>
            {message.status === 'stopped' && <div className="message-meta">Stopped</div>}
            {message.status === 'error' && message.role === 'assistant' && (
                <div className="message-error" role="alert">{message.error}</div>
            )}
            {message.status === 'error' && message.role === 'user' && (
                <button type="button" className="link-button" onClick={() => void retry(message.id)}>Send again</button>
            )}
        </article>
    );
}

export function ChatView() {
    const messages = useChatStore((s) => s.messages);
    const model = useEngineStore((s) => s.engine?.model);
    const endRef = useRef<HTMLDivElement>(null);
    const last = messages.at(-1);

    useEffect(() => {
        endRef.current?.scrollIntoView({ block: 'end' });
    }, [messages.length, last?.text]);

    if (messages.length === 0) {
        return (
            <div className="chat chat-empty">
                <div className="empty">
                    <h1>Ask about anything, at any length.</h1>
                    <p>{model == null ? 'Load a GGUF model on the left, then type a message below.' : `${model.name} is ready. Type a message below.`}</p>
                    <p className="muted"><kbd>Enter</kbd> sends, <kbd>Shift</kbd>+<kbd>Enter</kbd> adds a line, <kbd>Esc</kbd> stops a reply.</p>
                </div>
            </div>
        );
    }
    return (
        <div className="chat" role="log" aria-live="polite" aria-label="Conversation">
            {messages.map((m) => <MessageItem key={m.id} message={m} />)}
            <div ref={endRef} />
        </div>
    );
}
