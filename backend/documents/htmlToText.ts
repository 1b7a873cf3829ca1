// HTML to readable plain text that keeps what matters for reading: headings, paragraphs,
// lists and tables (as text). Used for HTML files, EPUB chapters and DOCX (via mammoth).
import { parse, NodeType, type HTMLElement, type Node } from 'node-html-parser';

const SKIP = new Set(['script', 'style', 'noscript', 'template', 'svg', 'head', 'iframe', 'object', 'button', 'form', 'nav']);
const BLOCK = new Set(['p', 'div', 'section', 'article', 'main', 'header', 'footer', 'aside', 'blockquote', 'figure', 'figcaption', 'dl', 'dt', 'dd', 'address', 'body', 'html', 'hr']);

function collapse(text: string): string {
    return text.replace(/\s+/g, ' ');
}

class TextWriter {
    #out = '';

    /** Inline text: whitespace collapses as a browser would. */
    inline(text: string): void {
        const collapsed = collapse(text);
        if (collapsed === ' ' && (this.#out === '' || /\s$/.test(this.#out))) return;
        this.#out += this.#out === '' || /\n$/.test(this.#out) ? collapsed.trimStart() : collapsed;
    }

    raw(text: string): void {
        this.#out += text;
    }

    /** End the current block with `lines` line breaks at least. */
    breakLines(lines: number): void {
        this.#out = this.#out.replace(/[ \t]+$/, '');
        if (this.#out === '') return;
        const existing = this.#out.length - this.#out.replace(/\n+$/, '').length;
        if (existing < lines) this.#out += '\n'.repeat(lines - existing);
    }

    get text(): string {
        return this.#out.replace(/[ \t]+\n/g, '\n').replace(/\n{3,}/g, '\n\n').trim();
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
