// The chats as the UI shows them. The backend owns them (SQLite); this store mirrors the
// open chat, applies streamed text as it arrives, and turns user actions into requests.
import { create } from 'zustand';
import { MAX_DOCUMENT_BYTES, type ChatSummary, type ChatView, type StoredMessage } from '../../../common/contract.ts';
import { errorMessage, HeadroomError } from '../../../common/errors.ts';
import { bridge, rpc } from '../bridge.ts';
import { useReloadOfferStore } from './reloadOfferStore.ts';

export interface Upload {
    id: string;
    name: string;
    stage: 'reading' | 'extracting' | 'counting';
    done: number;
    total: number;
}

interface ChatStore {
    chats: ChatSummary[];
    view: ChatView | null;
    /** The reply being generated (its message id), if any. */
    generatingId: string | null;
    prefill: { done: number; total: number } | null;
    uploads: Upload[];
    /** The last failed action, in words for the user. */
    error: string | null;
    refreshChats: () => Promise<void>;
    openChat: (chatId: string) => Promise<void>;
    newChat: () => Promise<string | null>;
    renameChat: (chatId: string, title: string) => Promise<void>;
    deleteChat: (chatId: string) => Promise<void>;
    /** Adds documents to the open chat (or a new one), or to `chatId`, which is opened. */
    addFiles: (files: readonly File[], chatId?: string) => Promise<void>;
    removeDocument: (documentId: string) => Promise<void>;
    send: (text: string) => Promise<void>;
    regenerate: () => Promise<void>;
    edit: (messageId: string, text: string) => Promise<void>;
    stop: () => Promise<void>;
    dismissError: () => void;
}

function toBase64(bytes: Uint8Array): string {
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(binary);
}

const megabytes = (bytes: number) => `${Math.ceil(bytes / 1024 / 1024)} MB`;

function tooLargeMessage(files: readonly File[]): string {
    const list = files.map((file) => `${file.name} (${megabytes(file.size)})`).join(', ');
    return `${files.length === 1 ? `${list} is` : `${list} are`} larger than the ${megabytes(MAX_DOCUMENT_BYTES)} Headroom reads; split ${files.length === 1 ? 'it' : 'them'} or save a smaller copy.`;
}

const upsertMessage = (messages: StoredMessage[], message: StoredMessage) =>
    messages.some((m) => m.id === message.id) ? messages.map((m) => (m.id === message.id ? message : m)) : [...messages, message];

export const useChatStore = create<ChatStore>((set, get) => {
    /** Run an action; its failure becomes the banner message instead of an exception. */
    const attempt = async <T>(action: () => Promise<T>): Promise<T | null> => {
        try {
            return await action();
        } catch (error) {
            set({ error: errorMessage(error) });
            return null;
        }
    };
    const reload = async () => {
        const chatId = get().view?.chat.id;
        if (chatId != null) await get().openChat(chatId);
    };
    /** A chat to put the turn in: the open one, or a new one. */
    const currentChatId = async () => get().view?.chat.id ?? (await get().newChat());
    const generate = async (request: () => Promise<StoredMessage>) => {
        set({ error: null, prefill: null });
        await attempt(request);
        set({ generatingId: null, prefill: null });
        await reload();
    };

    return {
        chats: [],
        view: null,
        generatingId: null,
        prefill: null,
        uploads: [],
        error: null,

        async refreshChats() {
            const chats = await attempt(() => rpc.request('chats.list', {}));
            if (chats != null) set({ chats });
        },

        async openChat(chatId) {
            const view = await attempt(() => rpc.request('chats.open', { chatId }));
            if (view != null) set({ view });
        },

        async newChat() {
            const chat = await attempt(() => rpc.request('chats.create', {}));
            if (chat == null) return null;
            await get().openChat(chat.id);
            await get().refreshChats();
            return chat.id;
        },

        async renameChat(chatId, title) {
            if (title.trim() === '') return;
            await attempt(() => rpc.request('chats.rename', { chatId, title: title.trim() }));
            await get().refreshChats();
            if (get().view?.chat.id === chatId) await reload();
        },

        async deleteChat(chatId) {
            await attempt(() => rpc.request('chats.delete', { chatId }));
            if (get().view?.chat.id === chatId) set({ view: null });
            await get().refreshChats();
        },

        async addFiles(files, into) {
            // Refused before a byte is read: a file this size would never be accepted anyway.
            const tooLarge = files.filter((file) => file.size > MAX_DOCUMENT_BYTES);
            const accepted = files.filter((file) => file.size <= MAX_DOCUMENT_BYTES);
            set({ error: tooLarge.length === 0 ? null : tooLargeMessage(tooLarge) });
            if (accepted.length === 0) return;
            if (into != null && get().view?.chat.id !== into) await get().openChat(into);
            const chatId = into ?? await currentChatId();
            if (chatId == null) return;
            for (const file of accepted) {
                const id = crypto.randomUUID();
                set((s) => ({ uploads: [...s.uploads, { id, name: file.name, stage: 'reading', done: 0, total: 1 }] }));
                try {
                    const dataBase64 = toBase64(new Uint8Array(await file.arrayBuffer()));
                    await rpc.request('documents.add', { chatId, uploadId: id, name: file.name, dataBase64 });
                } catch (error) {
                    // A document the context cannot hold comes with what would help (a reload): offered, one click away.
                    if (error instanceof HeadroomError && error.actions.length > 0) useReloadOfferStore.getState().show({ chatId, file, message: error.message, actions: error.actions });
                    else set({ error: errorMessage(error) });
                }
                set((s) => ({ uploads: s.uploads.filter((u) => u.id !== id) }));
            }
            await reload();
        },

        async removeDocument(documentId) {
            await attempt(() => rpc.request('documents.remove', { documentId }));
            await reload();
        },

        async send(text) {
            const prompt = text.trim();
            if (prompt === '' || get().generatingId != null) return;
            const chatId = await currentChatId();
            if (chatId == null) return;
            await generate(() => rpc.request('chat.send', { chatId, prompt }));
            await get().refreshChats();
        },

        async regenerate() {
            const chatId = get().view?.chat.id;
            if (chatId == null || get().generatingId != null) return;
            await generate(() => rpc.request('chat.regenerate', { chatId }));
        },

        async edit(messageId, text) {
            if (text.trim() === '' || get().generatingId != null) return;
            await generate(() => rpc.request('chat.edit', { messageId, text: text.trim() }));
        },

        async stop() {
            const chatId = get().view?.chat.id;
            await rpc.request('chat.stop', chatId != null ? { chatId } : {}).catch(() => {});
        },

        dismissError: () => set({ error: null }),
    };
});

rpc.on('chat.message', (message) => {
    if (flushTimer != null) {
        clearTimeout(flushTimer);
        flushChunks();
    }
    useChatStore.setState((state) => {
        if (state.view?.chat.id !== message.chatId) return {};
        const generatingId = message.role === 'assistant' && message.status === 'streaming' ? message.id : state.generatingId === message.id ? null : state.generatingId;
        return { view: { ...state.view, messages: upsertMessage(state.view.messages, message) }, generatingId };
    });
});
// Streamed text is applied in batches, at most every STREAM_FLUSH_MS: re-rendering Markdown
// for every token of a fast model would keep the page too busy to answer a click on Stop.
const STREAM_FLUSH_MS = 50;
let pendingChunks = new Map<string, string>();
let flushTimer: ReturnType<typeof setTimeout> | null = null;
function flushChunks() {
    flushTimer = null;
    const pending = pendingChunks;
    pendingChunks = new Map();
    useChatStore.setState((state) => {
        if (state.view == null) return {};
        const messages = state.view.messages.map((m) => {
            const text = pending.get(m.id);
            return text != null && m.status === 'streaming' ? { ...m, text: m.text + text } : m;
        });
        return { view: { ...state.view, messages }, prefill: null };
    });
}
rpc.on('chat.chunk', ({ generationId, text }) => {
    pendingChunks.set(generationId, (pendingChunks.get(generationId) ?? '') + text);
    flushTimer ??= setTimeout(flushChunks, STREAM_FLUSH_MS);
});
rpc.on('chat.prefill', ({ generationId, done, total }) => {
    if (useChatStore.getState().generatingId === generationId) useChatStore.setState({ prefill: { done, total } });
});
rpc.on('document.progress', ({ uploadId, stage, done, total }) => {
    useChatStore.setState((state) => ({ uploads: state.uploads.map((u) => (u.id === uploadId ? { ...u, stage, done, total } : u)) }));
});
rpc.on('chats.changed', () => void useChatStore.getState().refreshChats());
// A new model means new token counts and a new context budget.
let lastModelPath: string | null = null;
rpc.on('engine.state', (engine) => {
    const modelPath = engine.model?.path ?? null;
    if (modelPath === lastModelPath) return;
    lastModelPath = modelPath;
    const chatId = useChatStore.getState().view?.chat.id;
    if (chatId != null && useChatStore.getState().generatingId == null) void useChatStore.getState().openChat(chatId);
});
bridge.onConnection((connection) => {
    if (connection !== 'open') return;
    void (async () => {
        const store = useChatStore.getState();
        await store.refreshChats();
        const chatId = store.view?.chat.id ?? useChatStore.getState().chats[0]?.id;
        if (chatId != null) await useChatStore.getState().openChat(chatId);
    })();
});
