import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import type { PrefillInfo, StoredMessage } from '../../../common/contract.ts';
import { useChatStore } from '../stores/chatStore.ts';
import { plural } from '../../../common/words.ts';
import { useEngineStore } from '../stores/engineStore.ts';
import { MarkdownText } from './Markdown.tsx';

const fmt = (n: number) => n.toLocaleString('en-US');
const seconds = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

function CopyButton({ text }: { text: string }) {
    const [copied, setCopied] = useState(false);
    return (
        <button type="button" className="link-button" onClick={() => void navigator.clipboard?.writeText(text).then(() => {
            setCopied(true);
            setTimeout(() => setCopied(false), 1200);
        })}>{copied ? 'Copied' : 'Copy'}</button>
    );
}

function EditBox({ message, done }: { message: StoredMessage; done: () => void }) {
    const [text, setText] = useState(message.text);
    const edit = useChatStore((s) => s.edit);
    const submit = () => {
        done();
        void edit(message.id, text);
    };
    const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
        if (event.key === 'Enter' && !event.shiftKey) {
            event.preventDefault();
            submit();
        } else if (event.key === 'Escape') done();
    };
    return (
        <div className="edit-box">
            <textarea value={text} onChange={(e) => setText(e.target.value)} onKeyDown={onKeyDown} aria-label="Edit message" autoFocus rows={Math.min(8, text.split('\n').length + 1)} />
            <div className="edit-actions">
                <button type="button" className="button button-small" onClick={done}>Cancel</button>
                <button type="button" className="button button-small button-primary" onClick={submit} disabled={text.trim() === ''}>Send</button>
            </div>
        </div>
    );
}

function PrefillNote({ prefill }: { prefill: PrefillInfo }) {
    const read = Math.max(0, prefill.tokens - prefill.reusedTokens);
    if (prefill.snapshot === 'restored') {
        return (
            <div className="message-meta" data-testid="prefill-note">
                Documents restored from disk in {seconds(prefill.ms)}
                {prefill.originalPrefillMs != null && ` (first reading took ${seconds(prefill.originalPrefillMs)})`} · read {plural('new token', read)}
            </div>
        );
    }
    return (
        <div className="message-meta" data-testid="prefill-note">
            Read {fmt(read)} of {plural('prompt token', prefill.tokens)} in {seconds(prefill.ms)}
            {prefill.snapshot === 'saved' && ' · saved for instant re-open'}
        </div>
    );
}

function MessageItem({ message, isLast, prefill }: { message: StoredMessage; isLast: boolean; prefill: PrefillInfo | null }) {
    const regenerate = useChatStore((s) => s.regenerate);
    const busy = useChatStore((s) => s.generatingId != null);
    const [editing, setEditing] = useState(false);
    const streaming = message.status === 'streaming';
    const assistant = message.role === 'assistant';
    return (
        <article className={`message message-${message.role} message-${message.status}`} data-testid={`message-${message.role}`}>
            <div className="message-role">{assistant ? 'Model' : 'You'}</div>
            {editing ? <EditBox message={message} done={() => setEditing(false)} /> : (
                <div className="message-text">
                    {assistant ? <MarkdownText text={message.text} /> : message.text}
                    {streaming && <span className="cursor" aria-hidden="true" />}
                </div>
            )}
            {message.status === 'stopped' && <div className="message-meta">Stopped</div>}
            {message.status === 'contextFull' && <div className="message-meta">Stopped: the context is full. Start a new chat, or load the model with a larger context.</div>}
            {message.status === 'replyLimit' && <div className="message-meta" data-testid="reply-limit">Stopped at this chat's longest reply (Chat settings).</div>}
            {message.status === 'interrupted' && <div className="message-meta">Cut off when Headroom stopped</div>}
            {message.status === 'error' && <div className="message-error" role="alert">{message.error}</div>}
            {assistant && isLast && prefill != null && !streaming && <PrefillNote prefill={prefill} />}
            {!streaming && !editing && (
                <div className="message-actions">
                    <CopyButton text={message.text} />
                    {!assistant && !busy && <button type="button" className="link-button" onClick={() => setEditing(true)}>Edit</button>}
                    {assistant && isLast && !busy && <button type="button" className="link-button" onClick={() => void regenerate()}>Regenerate</button>}
                </div>
            )}
        </article>
    );
}

function PrefillProgress() {
    const prefill = useChatStore((s) => s.prefill);
    if (prefill == null || prefill.total === 0 || prefill.done >= prefill.total) return null;
    return (
        <div className="prefill" role="progressbar" aria-label="Reading the documents" aria-valuemin={0} aria-valuemax={prefill.total} aria-valuenow={prefill.done} data-testid="prefill-progress">
            <div className="prefill-bar" style={{ width: `${(prefill.done / prefill.total) * 100}%` }} />
            <span>Reading document… {fmt(prefill.done)} / {fmt(prefill.total)} tokens</span>
        </div>
    );
}

export function ChatView() {
    const view = useChatStore((s) => s.view);
    const model = useEngineStore((s) => s.engine?.model);
    const endRef = useRef<HTMLDivElement>(null);
    const messages = view?.messages ?? [];
    const last = messages.at(-1);

    useEffect(() => {
        endRef.current?.scrollIntoView({ block: 'end' });
    }, [messages.length, last?.text]);

    if (messages.length === 0) {
        return (
            <div className="chat chat-empty">
                <div className="empty">
                    <h1>Ask about anything, at any length.</h1>
                    <p>{model == null ? 'Load a GGUF model on the left, then drop a document here or type a message.' : `${model.name} is ready. Drop a PDF, Word, EPUB, HTML, Markdown, text or code file anywhere on the window, or just type.`}</p>
                    <p className="muted"><kbd>Enter</kbd> sends, <kbd>Shift</kbd>+<kbd>Enter</kbd> adds a line, <kbd>Esc</kbd> stops a reply, <kbd>Ctrl</kbd>+<kbd>O</kbd> attaches a file.</p>
                </div>
            </div>
        );
    }
    return (
        <div className="chat" role="log" aria-live="polite" aria-label="Conversation">
            {messages.map((m, i) => <MessageItem key={m.id} message={m} isLast={i === messages.length - 1} prefill={view?.lastPrefill ?? null} />)}
            <PrefillProgress />
            <div ref={endRef} />
        </div>
    );
}
