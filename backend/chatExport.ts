// A chat as Markdown: its title, the documents it was about (by name), the model and KV settings
// its replies ran with, its system prompt and sampling, then every turn. What each reply ran with
// is recorded as it finishes (describeRun), so an export says it even after another model loads.
import path from 'node:path';
import type { ChatSummary, DocumentInfo, LoadRecord, ModelInfo, StoredMessage } from '../common/contract.ts';
import { SAMPLING_KEYS, SAMPLING_LABELS, type Sampling, type SamplingOverrides } from '../common/chatSettings.ts';
import { plural } from '../common/words.ts';

const fmt = (n: number) => n.toLocaleString('en-US');
const percent = (share: number) => `${Math.round(share * 1000) / 10}%`;

/** The model and KV settings a reply ran with, in one line: "organism.gguf · 2,048-token context · KV: compressed (auto…) · cache f16 · …". */
export function describeRun(model: ModelInfo, load: LoadRecord | null): string {
    const kv = load?.params.kv;
    const compression = model.kv.active && kv != null
        ? `compressed (${kv.mode === 'budget' && kv.budget != null ? `budget ${percent(kv.budget)}` : kv.mode}, sinks ${fmt(kv.sinks)}, window ${fmt(kv.window)}, full heads on ${kv.offload})`
        : `full cache (compression ${model.kvMode === 'off' ? 'off' : 'not active'})`;
    const engine = `${model.engine.kind === 'headwise' ? 'Headroom\'s' : 'stock'} llama.cpp on ${model.gpu === 'cpu' ? 'the CPU' : model.gpu}`;
    const file = path.basename(model.path);
    return [
        model.name === file ? file : `${model.name} (${file})`, `${fmt(model.contextSize)}-token context`, `KV: ${compression}`,
        `cache ${load?.params.kvCacheType ?? 'f16'}`, `flash attention ${load?.params.flashAttention ?? 'auto'}`, engine,
    ].join(' · ');
}

export interface ChatExport {
    chat: ChatSummary;
    messages: readonly StoredMessage[];
    documents: readonly DocumentInfo[];
    /** What each reply ran with, by message id (null: not recorded). */
    ranWith: ReadonlyMap<string, string | null>;
    systemPrompt: string;
    /** The sampling replies run with now, and which of it the chat set itself. */
    sampling: Sampling;
    overrides: SamplingOverrides;
    exportedAt: Date;
}

const STATUS_NOTES: Partial<Record<StoredMessage['status'], string>> = {
    stopped: 'stopped before the end', contextFull: 'stopped: the context was full', replyLimit: 'stopped at the chat\'s longest reply', interrupted: 'cut off: Headroom closed while it was written', streaming: 'still being written',
};

/** A block of text as a Markdown quote. */
const quoted = (text: string) => text.split('\n').map((line) => (line === '' ? '>' : `> ${line}`)).join('\n');

/** A file name for the export: the title without what file systems refuse. */
export function exportFileName(title: string): string {
    const name = [...title].map((c) => (c.charCodeAt(0) < 32 || '\\/:*?"<>|'.includes(c) ? ' ' : c)).join('').replace(/\s+/g, ' ').trim().slice(0, 120);
    return `${name === '' ? 'Chat' : name}.md`;
}

export function chatToMarkdown(input: ChatExport): string {
    const { chat, messages, documents, ranWith } = input;
    const runs = [...new Set(messages.filter((m) => m.role === 'assistant').map((m) => ranWith.get(m.id) ?? null).filter((run): run is string => run != null))];
    const documentList = documents.length === 0 ? 'none' : documents.map((d) => `${d.name}${d.pages != null ? ` (${plural('page', d.pages)})` : ''}`).join(', ');
    const sampling = SAMPLING_KEYS.map((key) => {
        const value = input.sampling[key];
        const said = key === 'maxTokens' ? (value == null ? 'until the model ends it' : plural('token', value)) : String(value);
        return `${SAMPLING_LABELS[key].toLowerCase()} ${said}${key in input.overrides ? '' : ' (model default)'}`;
    }).join(', ');
    const lines = [
        `# ${chat.title}`, '',
        `- Exported from Headroom: ${input.exportedAt.toISOString().replace(/\.\d+Z$/, 'Z')}`,
        `- Documents: ${documentList}`,
        ...(runs.length === 1 ? [`- Model and KV settings: ${runs[0]}`] : []),
        ...(runs.length > 1 ? ['- Model and KV settings (each reply says which it ran with):', ...runs.map((run) => `  - ${run}`)] : []),
        `- Sampling: ${sampling}`,
        ...(input.systemPrompt.trim() !== '' ? ['- System prompt:', '', quoted(input.systemPrompt.trim())] : []),
    ];
    for (const message of messages) {
        lines.push('', `## ${message.role === 'user' ? 'You' : 'Headroom'}`, '');
        const run = ranWith.get(message.id);
        if (message.role === 'assistant' && runs.length > 1 && run != null) lines.push(`*Ran with: ${run}*`, '');
        lines.push(message.text.trim() === '' ? '*(no text)*' : message.text.trim());
        const note = message.status === 'error' ? `error: ${message.error ?? 'unknown'}` : STATUS_NOTES[message.status];
        if (note != null) lines.push('', `*(${note})*`);
    }
    return `${lines.join('\n')}\n`;
}
