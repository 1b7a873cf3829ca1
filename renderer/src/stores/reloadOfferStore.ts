// A document the loaded context cannot hold, refused with what would help (common/errors.ts
// ErrorAction): one click reloads the model as offered, with progress, then adds the document to
// the chat it was dropped on. The chat itself is never touched: its messages and other documents
// stay as they are, and the file is kept here until it is added or the offer dismissed.
import { create } from 'zustand';
import { errorMessage, type ErrorAction } from '../../../common/errors.ts';
import { LoadOverrides } from '../../../common/settings.ts';
import { useEngineStore } from './engineStore.ts';

export interface ReloadOffer {
    chatId: string;
    file: File;
    /** The refusal, in words: how big the document is, what fits, what would help. */
    message: string;
    actions: readonly ErrorAction[];
}

interface ReloadOfferStore {
    offer: ReloadOffer | null;
    /** What taking the offer is doing now. */
    phase: 'offered' | 'reloading';
    /** The action being taken (its button's words). */
    taking: ErrorAction | null;
    error: string | null;
    show: (offer: ReloadOffer) => void;
    /** Reloads as the action says, then adds the document with `add` (the chat store's own upload, with its progress). */
    take: (action: ErrorAction, add: (files: readonly File[], chatId: string) => Promise<void>) => Promise<void>;
    dismiss: () => void;
}

export const useReloadOfferStore = create<ReloadOfferStore>((set, get) => ({
    offer: null,
    phase: 'offered',
    taking: null,
    error: null,

    show: (offer) => set({ offer, phase: 'offered', taking: null, error: null }),

    async take(action, add) {
        const offer = get().offer;
        if (offer == null || get().phase !== 'offered') return;
        const overrides = LoadOverrides.safeParse(action.overrides);
        if (!overrides.success) return set({ error: `This offer cannot be taken: ${errorMessage(overrides.error)}` });
        set({ phase: 'reloading', taking: action, error: null });
        const loaded = await useEngineStore.getState().loadModel(action.path, overrides.data);
        if (!loaded) {
            // The engine store has the words (what failed, and what is loaded now).
            return set({ phase: 'offered', taking: null, error: useEngineStore.getState().actionError ?? 'The model could not be loaded again.' });
        }
        // Cleared first: the upload shows its own progress, and a refusal of the document now (a new offer) replaces this one.
        set({ offer: null, phase: 'offered', taking: null });
        await add([offer.file], offer.chatId);
    },

    dismiss: () => {
        if (get().phase === 'offered') set({ offer: null, taking: null, error: null });
    },
}));
