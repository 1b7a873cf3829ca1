import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import { useChatStore } from '../stores/chatStore.ts';
import { useEngineStore } from '../stores/engineStore.ts';
import { AttachButton } from './DocumentsBar.tsx';

export function Composer() {
    const [text, setText] = useState('');
    const send = useChatStore((s) => s.send);
    const stop = useChatStore((s) => s.stop);
    const newChat = useChatStore((s) => s.newChat);
    const generating = useChatStore((s) => s.generatingId != null);
    const hasMessages = useChatStore((s) => (s.view?.messages.length ?? 0) > 0);
    const ready = useEngineStore((s) => s.engine?.status === 'ready');
    const inputRef = useRef<HTMLTextAreaElement>(null);

    useEffect(() => {
        if (!generating) inputRef.current?.focus();
    }, [generating]);

    const submit = () => {
        if (!ready || generating || text.trim() === '') return;
        void send(text);
        setText('');
    };

    const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
        if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
            event.preventDefault();
            submit();
        } else if (event.key === 'Escape' && generating) {
            event.preventDefault();
            void stop();
        }
    };

    return (
        <div className="composer">
            <AttachButton />
            <textarea
                ref={inputRef}
                value={text}
                onChange={(e) => setText(e.target.value)}
                onKeyDown={onKeyDown}
                placeholder={ready || generating ? 'Message the model…' : 'Load a model to start chatting'}
                rows={Math.min(8, Math.max(1, text.split('\n').length))}
                aria-label="Message"
            />
            <div className="composer-actions">
                {hasMessages && !generating && (
                    <button type="button" className="button button-quiet" onClick={() => void newChat()}>New chat</button>
                )}
                {/* Keyed apart: a click meant for Stop must never land on the Send button that replaces it. */}
                {generating ? (
                    <button key="stop" type="button" className="button button-danger" onClick={() => void stop()} aria-keyshortcuts="Escape">Stop</button>
                ) : (
                    <button key="send" type="button" className="button button-primary" onClick={submit} disabled={!ready || text.trim() === ''}>Send</button>
                )}
            </div>
        </div>
    );
}
