// What a chat has besides its turns: its own system prompt and sampling (over the loaded model's
// defaults), search over every chat, and the chat as Markdown. The turns themselves are
// ChatService's (backend/chats.ts), which sends these settings with each reply.
import path from 'node:path';
import { effectiveSampling, LIBRARY_SAMPLING, SAMPLING_KEYS, type ChatSettings, type ChatSettingsPatch, type ChatSettingsView, type Sampling } from '../common/chatSettings.ts';
import { snippetParts, type ChatExportFile, type SearchHit } from '../common/chatSearch.ts';
import type { EngineState } from '../common/contract.ts';
import type { Handlers } from '../common/rpc.ts';
import type { uiRequests } from '../common/uiContract.ts';
import { chatToMarkdown, exportFileName } from './chatExport.ts';
import { MATCH_END, MATCH_START, type HeadroomDatabase } from './database.ts';
import { describeModelFile } from './models/gguf.ts';

export type ChatToolHandlers = Handlers<typeof uiRequests, 'chats.settings' | 'chats.updateSettings' | 'chats.search' | 'chats.export'>;

export class ChatTools {
    #db: HeadroomDatabase;
    #engine: () => EngineState;

    constructor(db: HeadroomDatabase, engine: () => EngineState) {
        this.#db = db;
        this.#engine = engine;
    }

    /** The loaded model's own sampling defaults (its file's general.sampling.*), and its name; none while no model is loaded. */
    async modelDefaults(): Promise<{ sampling: Partial<Sampling>; from: string | null }> {
        const model = this.#engine().model;
        if (model == null) return { sampling: {}, from: null };
        const sampling = await describeModelFile(model.path).then((file) => file.header.sampling, () => ({}));
        return { sampling, from: path.basename(model.path) };
    }

    /** What a reply in this chat runs with: its system prompt, and its sampling over the model's defaults. */
    async forReply(chatId: string): Promise<{ systemPrompt: string; sampling: Sampling }> {
        const settings = this.#db.chatSettings(chatId);
        return { systemPrompt: settings.systemPrompt, sampling: effectiveSampling((await this.modelDefaults()).sampling, settings.sampling) };
    }

    async view(chatId: string, settings: ChatSettings = this.#db.chatSettings(chatId)): Promise<ChatSettingsView> {
        const defaults = await this.modelDefaults();
        return {
            ...settings,
            defaults: effectiveSampling(defaults.sampling, {}),
            defaultsFrom: defaults.from,
            fromModel: SAMPLING_KEYS.filter((key) => key in defaults.sampling && defaults.sampling[key] !== LIBRARY_SAMPLING[key]),
        };
    }

    async update(chatId: string, patch: ChatSettingsPatch): Promise<ChatSettingsView> {
        const current = this.#db.chatSettings(chatId);
        const next: ChatSettings = { systemPrompt: patch.systemPrompt ?? current.systemPrompt, sampling: patch.sampling ?? current.sampling };
        return this.view(chatId, this.#db.setChatSettings(chatId, next));
    }

    search(query: string): SearchHit[] {
        return this.#db.search(query).map(({ snippet, ...hit }) => ({ ...hit, parts: snippetParts(snippet, MATCH_START, MATCH_END) }));
    }

    async export(chatId: string, now = new Date()): Promise<ChatExportFile> {
        const chat = this.#db.getChat(chatId);
        const settings = this.#db.chatSettings(chatId);
        const { sampling } = await this.forReply(chatId);
        const markdown = chatToMarkdown({
            chat, messages: this.#db.listMessages(chatId), documents: this.#db.listDocuments(chatId, null), ranWith: this.#db.ranWith(chatId),
            systemPrompt: settings.systemPrompt, sampling, overrides: settings.sampling, exportedAt: now,
        });
        return { fileName: exportFileName(chat.title), markdown };
    }

    handlers(): ChatToolHandlers {
        return {
            'chats.settings': ({ chatId }) => this.view(chatId),
            'chats.updateSettings': ({ chatId, ...patch }) => this.update(chatId, patch),
            'chats.search': async ({ query }) => this.search(query),
            'chats.export': ({ chatId }) => this.export(chatId),
        };
    }
}
