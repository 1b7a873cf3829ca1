// How attached documents are laid out for the model: each in full, under its name, in the
// system message (organism.gguf and most chat models read a document best from there).
// Pure: the engine builds the prompt from it and the backend counts its tokens with it.

export interface PromptDocument {
    name: string;
    text: string;
}

export function documentBlock({ name, text }: PromptDocument): string {
    return `Document: ${name}\n\n${text.trim()}`;
}

/** The system message holding every document, or null when there are none. */
export function documentsSystemText(documents: readonly PromptDocument[]): string | null {
    if (documents.length === 0) return null;
    return documents.map(documentBlock).join('\n\n');
}
