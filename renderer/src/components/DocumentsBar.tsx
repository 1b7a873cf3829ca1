import { useRef } from 'react';
import type { ContextBudget, DocumentInfo } from '../../../common/contract.ts';
import { plural } from '../../../common/words.ts';
import { useChatStore } from '../stores/chatStore.ts';

const fmt = (n: number) => n.toLocaleString('en-US');
export const ACCEPTED_FILES = '.pdf,.docx,.epub,.html,.htm,.md,.markdown,.txt,.csv,.rst,.ts,.tsx,.js,.jsx,.py,.rs,.go,.c,.h,.cpp,.java,.json,.yaml,.yml,.toml,.sh,.sql,.css,.xml';

const NO_DOCUMENTS: DocumentInfo[] = []; // a stable empty value, so the selector does not re-render forever

const STAGES = { reading: 'Reading', extracting: 'Extracting text', counting: 'Counting tokens' } as const;

function DocumentChip({ doc }: { doc: DocumentInfo }) {
    const removeDocument = useChatStore((s) => s.removeDocument);
    const facts = [doc.pages != null ? plural('page', doc.pages) : null, doc.tokens != null ? plural('token', doc.tokens) : 'load a model to count tokens'].filter(Boolean).join(' · ');
    return (
        <li className="doc-chip" data-testid="document" title={doc.warnings.join('\n') || doc.name}>
            <span className="doc-kind" aria-hidden="true">{doc.kind.toUpperCase()}</span>
            <span className="doc-name">{doc.name}</span>
            <span className="doc-facts">{facts}</span>
            {doc.warnings.length > 0 && <span className="doc-warning" aria-label={doc.warnings.join(' ')}>!</span>}
            <button type="button" className="icon-button" onClick={() => void removeDocument(doc.id)} aria-label={`Remove ${doc.name}`} title="Remove">×</button>
        </li>
    );
}

/** Where the context goes: documents, conversation, and what is left for the reply. */
export function BudgetBar({ budget }: { budget: ContextBudget }) {
    const pct = (n: number) => `${Math.max(0, Math.min(100, (n / budget.contextSize) * 100))}%`;
    return (
        <div className="budget" data-testid="context-budget" aria-label="Context budget">
            <div className="budget-track" aria-hidden="true">
                <div className="budget-docs" style={{ width: pct(budget.documentTokens) }} />
                <div className="budget-conv" style={{ width: pct(budget.conversationTokens) }} />
            </div>
            <div className="budget-legend">
                <span><i className="dot dot-docs" />Documents {fmt(budget.documentTokens)}</span>
                <span><i className="dot dot-conv" />Conversation {fmt(budget.conversationTokens)}</span>
                <span className={budget.remaining < 0 ? 'budget-over' : undefined}>{fmt(Math.max(0, budget.remaining))} of {fmt(budget.contextSize)} tokens free</span>
            </div>
        </div>
    );
}

/** The file picker: a paperclip button (and Ctrl+O) over a hidden file input. */
export function AttachButton() {
    const addFiles = useChatStore((s) => s.addFiles);
    const input = useRef<HTMLInputElement>(null);
    return (
        <>
            <button type="button" className="icon-button attach-button" onClick={() => input.current?.click()} aria-label="Attach documents" aria-keyshortcuts="Control+O" title="Attach documents (Ctrl+O)">
                <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path d="M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" /></svg>
            </button>
            <input
                ref={input}
                type="file"
                multiple
                hidden
                id="attach-input"
                accept={ACCEPTED_FILES}
                onChange={(e) => {
                    const files = [...(e.target.files ?? [])];
                    e.target.value = '';
                    if (files.length > 0) void addFiles(files);
                }}
            />
        </>
    );
}

export function DocumentsBar() {
    const documents = useChatStore((s) => s.view?.documents ?? NO_DOCUMENTS);
    const budget = useChatStore((s) => s.view?.budget ?? null);
    const uploads = useChatStore((s) => s.uploads);
    if (documents.length === 0 && uploads.length === 0) return null;
    return (
        <section className="docs" aria-label="Documents">
            <div className="docs-row">
                <ul className="doc-list">
                    {documents.map((doc) => <DocumentChip key={doc.id} doc={doc} />)}
                    {uploads.map((u) => (
                        <li key={u.id} className="doc-chip doc-uploading" data-testid="upload">
                            <span className="doc-name">{u.name}</span>
                            <span className="doc-facts">{STAGES[u.stage]}{u.total > 1 ? ` ${u.done} / ${u.total}` : '…'}</span>
                            <span className="mini-progress" role="progressbar" aria-label={`Adding ${u.name}`} aria-valuemin={0} aria-valuemax={u.total} aria-valuenow={u.done}>
                                <span style={{ width: `${u.total > 0 ? (u.done / u.total) * 100 : 0}%` }} />
                            </span>
                        </li>
                    ))}
                </ul>
            </div>
            {budget != null && (documents.length > 0 || budget.conversationTokens > 0) && <BudgetBar budget={budget} />}
        </section>
    );
}
