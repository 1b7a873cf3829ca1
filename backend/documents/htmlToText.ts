// HTML to readable plain text that keeps what matters for reading: headings, paragraphs,
// lists and tables (as text). Used for HTML files, EPUB chapters and DOCX (via mammoth).
import { parse, NodeType, type HTMLElement, type Node } from 'node-html-parser';

const SKIP = new Set(['script', 'style', 'noscript', 'template', 'svg', 'head', 'iframe', 'object', 'button', 'form', 'nav']);
const BLOCK = new Set(['p', 'div', 'section', 'article', 'main', 'header', 'footer', 'aside', 'blockquote', 'figure', 'figcaption', 'dl', 'dt', 'dd', 'address', 'body', 'html', 'hr']);

function collapse(text: string): string {
    return text.replace(/\s+/g, ' ');
}

const isBlank = (char: string | undefined) => char === ' ' || char === '\t';
const WHITESPACE = /\s/;

/** A line without the spaces and tabs at its end, found from the end (a regex would retry at every blank). */
function trimBlanksEnd(line: string): string {
    let end = line.length;
    while (end > 0 && isBlank(line[end - 1])) end--;
    return end === line.length ? line : line.slice(0, end);
}

/**
 * The text as it is written, in linear time: whatever is appended is kept in pieces, and the
 * rules only ever look at the end (is it blank, a line break, how many line breaks), so the end
 * is kept apart: the run of spaces and tabs after the last other character, and how many line
 * breaks come right before that run. Reading the whole text back for each rule made a page of
 * 16,000 paragraphs take a minute.
 */
class TextWriter {
    #pieces: string[] = [];
    /** The spaces and tabs at the very end, not yet in #pieces. */
    #blanks = '';
    /** The last character in #pieces ('' when nothing is). */
    #last = '';
    /** How many line breaks #pieces ends with. */
    #newlines = 0;

    #isEmpty(): boolean {
        return this.#last === '' && this.#blanks === '';
    }

    #endsWithWhitespace(): boolean {
        return this.#blanks !== '' || WHITESPACE.test(this.#last);
    }

    #endsWithNewline(): boolean {
        return this.#blanks === '' && this.#last === '\n';
    }

    #append(text: string): void {
        if (text === '') return;
        let end = text.length;
        while (end > 0 && isBlank(text[end - 1])) end--;
        if (end === 0) {
            this.#blanks += text;
            return;
        }
        const head = text.slice(0, end);
        let newlines = 0;
        while (newlines < head.length && head[head.length - 1 - newlines] === '\n') newlines++;
        this.#newlines = newlines === head.length && this.#blanks === '' ? this.#newlines + newlines : newlines;
        if (this.#blanks !== '') this.#pieces.push(this.#blanks);
        this.#pieces.push(head);
        this.#last = head[head.length - 1] ?? '';
        this.#blanks = end === text.length ? '' : text.slice(end);
    }

    /** Inline text: whitespace collapses as a browser would. */
    inline(text: string): void {
        const collapsed = collapse(text);
        if (collapsed === ' ' && (this.#isEmpty() || this.#endsWithWhitespace())) return;
        this.#append(this.#isEmpty() || this.#endsWithNewline() ? collapsed.trimStart() : collapsed);
    }

    raw(text: string): void {
        this.#append(text);
    }

    /** End the current block with `lines` line breaks at least. */
    breakLines(lines: number): void {
        this.#blanks = '';
        if (this.#last === '') return;
        if (this.#newlines < lines) this.#append('\n'.repeat(lines - this.#newlines));
    }

    /** No blanks before a line break, at most one empty line in a row, trimmed. */
    get text(): string {
        const whole = this.#pieces.join('') + this.#blanks;
        return whole.split('\n').map(trimBlanksEnd).join('\n').replace(/\n{3,}/g, '\n\n').trim();
    }
}

function cellText(cell: HTMLElement): string {
    return collapse(cell.text).trim();
}

function walk(node: Node, out: TextWriter, listDepth: number): void {
    if (node.nodeType === NodeType.TEXT_NODE) {
        out.inline((node as unknown as { text: string }).text);
        return;
    }
    if (node.nodeType !== NodeType.ELEMENT_NODE) return;
    const element = node as HTMLElement;
    const tag = element.rawTagName?.toLowerCase() ?? '';
    if (SKIP.has(tag)) return;

    const heading = /^h([1-6])$/.exec(tag);
    if (heading != null) {
        out.breakLines(2);
        out.raw(`${'#'.repeat(Number(heading[1]))} `);
        out.inline(element.text);
        out.breakLines(2);
        return;
    }
    switch (tag) {
        case 'br':
            out.raw('\n');
            return;
        case 'pre':
            out.breakLines(2);
            out.raw(`\`\`\`\n${element.text.replace(/\n$/, '')}\n\`\`\``);
            out.breakLines(2);
            return;
        case 'ul':
        case 'ol': {
            out.breakLines(listDepth === 0 ? 2 : 1);
            let index = 1;
            for (const child of element.childNodes) {
                if (child.nodeType === NodeType.ELEMENT_NODE && (child as HTMLElement).rawTagName?.toLowerCase() === 'li') {
                    out.breakLines(1);
                    out.raw(`${'  '.repeat(listDepth)}${tag === 'ol' ? `${index++}.` : '-'} `);
                    for (const grandchild of child.childNodes) walk(grandchild, out, listDepth + 1);
                } else {
                    walk(child, out, listDepth);
                }
            }
            out.breakLines(listDepth === 0 ? 2 : 1);
            return;
        }
        case 'table': {
            out.breakLines(2);
            for (const row of element.querySelectorAll('tr')) {
                const cells = row.childNodes.filter((c) => c.nodeType === NodeType.ELEMENT_NODE && /^t[hd]$/i.test((c as HTMLElement).rawTagName ?? ''));
                out.raw(`| ${cells.map((c) => cellText(c as HTMLElement)).join(' | ')} |`);
                out.breakLines(1);
            }
            out.breakLines(2);
            return;
        }
    }
    const block = BLOCK.has(tag) || tag === 'li';
    if (block) out.breakLines(tag === 'dd' || tag === 'dt' ? 1 : 2);
    for (const child of element.childNodes) walk(child, out, listDepth);
    if (block) out.breakLines(tag === 'dd' || tag === 'dt' ? 1 : 2);
}

export function htmlToText(html: string): { text: string; title: string | null } {
    const root = parse(html, { comment: false, blockTextElements: { script: false, style: false, pre: true, noscript: false } });
    const title = root.querySelector('title')?.text.trim() || null;
    const out = new TextWriter();
    walk(root.querySelector('body') ?? root, out, 0);
    return { text: out.text, title };
}
