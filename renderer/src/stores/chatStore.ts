// The conversation lives here, not in the engine: every turn sends the history, so an
// engine restart (or crash) never loses what was said.
import { create } from 'zustand';
import type { ChatMessage } from '../../../electron/ipc/contract.ts';
import { rpc } from '../bridge.ts';

export interface Message {
    id: string;
    role: 'user' | 'assistant';
    text: string;
    status: 'streaming' | 'done' | 'stopped' | 'error';
    error?: string;
}

interface ChatStore {
    messages: Message[];
    generationId: string | null;
    send(text: string): Promise<void>;
    stop(): Promise<void>;
    /** Send a failed question again, replacing the failed turn. */
    retry(userMessageId: string): Promise<void>;
    clear(): void;
}

/** What the model should see: finished turns, including a reply the user stopped. */
function historyOf(messages: readonly Message[]): ChatMessage[] {
    return messages
        .filter((m) => m.status === 'done' || m.status === 'stopped')
        .map(({ role, text }) => ({ role, text }));
}

const updateMessage = (id: string, patch: Partial<Message>) =>
    useChatStore.setState((state) => ({ messages: state.messages.map((m) => (m.id === id ? { ...m, ...patch } : m)) }));

export const useChatStore = create<ChatStore>((set, get) => ({
    messages: [],
    generationId: null,

    async send(text) {
        const prompt = text.trim();
        if (prompt === '' || get().generationId != null) return;
        const history = historyOf(get().messages);
        const generationId = crypto.randomUUID();
        const userId = crypto.randomUUID();
        set((state) => ({
            generationId,
            messages: [
                ...state.messages,
                { id: userId, role: 'user', text: prompt, status: 'streaming' },
                { id: generationId, role: 'assistant', text: '', status: 'streaming' },
            ],
        }));
        try {
            const reply = await rpc.request('chat.send', { generationId, history, prompt });
            updateMessage(userId, { status: 'done' });
            updateMessage(generationId, { text: reply.text, status: reply.stopReason === 'aborted' ? 'stopped' : 'done' });
        } catch (error) {
            // The question stays in the conversation only if it got an answer; keep it visible, marked.
            updateMessage(userId, { status: 'error' });
            updateMessage(generationId, { status: 'error', error: error instanceof Error ? error.message : String(error) });
        } finally {
            set({ generationId: null });
        }
    },

    async stop() {
        const generationId = get().generationId;
        if (generationId != null) await rpc.request('chat.stop', { generationId }).catch(() => {});
    },

    async retry(userMessageId) {
        const messages = get().messages;
        const index = messages.findIndex((m) => m.id === userMessageId);
        if (index < 0 || messages[index].status !== 'error' || get().generationId != null) return;
        set({ messages: messages.filter((_, i) => i !== index && i !== index + 1) });
        await get().send(messages[index].text);
    },

    clear() {
        if (get().generationId == null) set({ messages: [] });
    },
}));

rpc.on('chat.chunk', ({ generationId, text }) => {
    useChatStore.setState((state) => ({
        messages: state.messages.map((m) => (m.id === generationId && m.status === 'streaming' ? { ...m, text: m.text + text } : m)),
    }));
});
