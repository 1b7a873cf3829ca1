// Search over chats (SQLite FTS5 in the backend) as the window receives it: each hit is a chat's
// title or one of its messages, with the words that matched marked.
import { z } from 'zod';

export const MAX_SEARCH = 500;

export const SearchHit = z.object({
    chatId: z.string(),
    title: z.string(),
    /** The message that matched; null when the title did. */
    messageId: z.string().nullable(),
    /** The text around the match, in parts: `match` parts are the words that matched. */
    parts: z.array(z.object({ text: z.string(), match: z.boolean() })),
    updatedAt: z.number(),
});
export type SearchHit = z.infer<typeof SearchHit>;

/** A snippet with its matched words between `start` and `end` marks, as parts. */
export function snippetParts(snippet: string, start: string, end: string): SearchHit['parts'] {
    const parts: SearchHit['parts'] = [];
    let rest = snippet;
    while (rest.length > 0) {
        const open = rest.indexOf(start);
        if (open < 0) {
            parts.push({ text: rest, match: false });
            break;
        }
        if (open > 0) parts.push({ text: rest.slice(0, open), match: false });
        const close = rest.indexOf(end, open + start.length);
        const stop = close < 0 ? rest.length : close;
        parts.push({ text: rest.slice(open + start.length, stop), match: true });
        rest = close < 0 ? '' : rest.slice(close + end.length);
    }
    return parts.filter((part) => part.text.length > 0);
}

export const ChatExportFile = z.object({ fileName: z.string(), markdown: z.string() });
export type ChatExportFile = z.infer<typeof ChatExportFile>;
