// Turns a dropped file into the text the model reads, keeping the structure that matters
// for reading. Every way a file can be unreadable ends in one clear sentence, and every way a
// file can make reading it endless is capped: inflated bytes (zip.ts), pages, EPUB chapters
// (each read once, however often the spine lists it) and the characters that come out. It runs
// in a worker with a memory and time limit (extractInWorker.ts), never in the app's process.
import path from 'node:path';
import JSZip from 'jszip';
import { MAX_DOCUMENT_BYTES, type DocumentKind } from '../../common/contract.ts';
import { HeadroomError } from '../../common/errors.ts';
import { plural } from '../../common/words.ts';
import { htmlToText } from './htmlToText.ts';
import { BoundedZip, ZIP_LIMITS, type ZipLimits } from './zip.ts';

export { MAX_DOCUMENT_BYTES };

export interface ExtractionLimits {
    maxPages: number;
    /** Text that comes out: about 4 million tokens, beyond the largest context any model has. */
    maxChars: number;
    zip: ZipLimits;
}

export const EXTRACTION_LIMITS: ExtractionLimits = { maxPages: 5_000, maxChars: 16 * 1024 * 1024, zip: ZIP_LIMITS };

export interface ExtractedDocument {
    kind: DocumentKind;
    text: string;
    pages: number | null;
    warnings: string[];
}

export type ExtractProgress = (done: number, total: number) => void;

const MARKDOWN = new Set(['.md', '.markdown', '.mdx']);
const TEXT = new Set(['.txt', '.text', '.log', '.csv', '.tsv', '.rst', '.tex', '.org', '.adoc', '.srt', '.ini', '.cfg', '.conf']);
const HTML = new Set(['.html', '.htm', '.xhtml']);
const CODE: Record<string, string> = {
    '.ts': 'ts', '.tsx': 'tsx', '.js': 'js', '.jsx': 'jsx', '.mjs': 'js', '.cjs': 'js', '.py': 'python', '.rs': 'rust',
    '.go': 'go', '.c': 'c', '.h': 'c', '.cc': 'cpp', '.cpp': 'cpp', '.hpp': 'cpp', '.cxx': 'cpp', '.java': 'java',
    '.kt': 'kotlin', '.swift': 'swift', '.rb': 'ruby', '.php': 'php', '.cs': 'csharp', '.sh': 'bash', '.bash': 'bash',
    '.zsh': 'zsh', '.ps1': 'powershell', '.sql': 'sql', '.json': 'json', '.yaml': 'yaml', '.yml': 'yaml', '.toml': 'toml',
    '.xml': 'xml', '.css': 'css', '.scss': 'scss', '.lua': 'lua', '.r': 'r', '.scala': 'scala', '.hs': 'haskell',
    '.ml': 'ocaml', '.ex': 'elixir', '.exs': 'elixir', '.erl': 'erlang', '.clj': 'clojure', '.dart': 'dart',
    '.vue': 'vue', '.svelte': 'svelte', '.m': 'objectivec', '.pl': 'perl', '.jl': 'julia', '.zig': 'zig', '.nim': 'nim',
};
const SUPPORTED = 'PDF, DOCX, EPUB, HTML, Markdown, plain text and source code';

function fail(code: 'DOCUMENT_UNREADABLE' | 'UNSUPPORTED_DOCUMENT' | 'DOCUMENT_TOO_LARGE', message: string): never {
    throw new HeadroomError(code, message);
}

const count = (n: number) => n.toLocaleString('en-US');

/** A library's own error text is for the log, not for the person who dropped the file. */
function logged(name: string, error: unknown): void {
    console.warn(`[documents] ${name}:`, error);
}

/** Refuses text beyond the cap as soon as it is known, so a document never grows without end. */
function checkChars(name: string, chars: number, limits: ExtractionLimits): void {
    if (chars > limits.maxChars) {
        fail('DOCUMENT_TOO_LARGE', `${name} holds more than ${count(limits.maxChars)} characters of text, more than any model's context can take. Split it, or add the parts you need.`);
    }
}

function startsWith(bytes: Uint8Array, signature: string): boolean {
    return signature.split('').every((char, i) => bytes[i] === char.charCodeAt(0));
}

export function documentKind(name: string, bytes: Uint8Array): DocumentKind | null {
    const ext = path.extname(name).toLowerCase();
    if (ext === '.pdf') return 'pdf';
    if (ext === '.docx') return 'docx';
    if (ext === '.epub') return 'epub';
    if (HTML.has(ext)) return 'html';
    if (MARKDOWN.has(ext)) return 'markdown';
    if (TEXT.has(ext)) return 'text';
    if (ext in CODE) return 'code';
    if (ext === '' && startsWith(bytes, '%PDF-')) return 'pdf';
    if (ext === '' || /^[A-Z][A-Za-z]*$/.test(path.basename(name))) return 'text'; // README, LICENSE, Makefile…
    return null;
}

/** Text files: UTF-8 (with or without BOM), or UTF-16 with a BOM; binary is refused. */
function decodeText(name: string, bytes: Uint8Array, warnings: string[]): string {
    if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes);
    if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes);
    const head = bytes.subarray(0, 8192);
    if (head.includes(0)) fail('DOCUMENT_UNREADABLE', `${name} is a binary file, not text.`);
    try {
        return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
    } catch {
        warnings.push('The file is not valid UTF-8; it was read as Windows-1252.');
        return new TextDecoder('windows-1252').decode(bytes);
    }
}

async function extractPdf(name: string, bytes: Uint8Array, onProgress: ExtractProgress | undefined, warnings: string[], limits: ExtractionLimits) {
    const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
    let document;
    try {
        document = await pdfjs.getDocument({
            data: new Uint8Array(bytes), // a copy: pdf.js takes ownership, and refuses Buffers
            useSystemFonts: false,
            disableFontFace: true,
            verbosity: 0,
        }).promise;
    } catch (error) {
        if (error instanceof Error && error.name === 'PasswordException') fail('DOCUMENT_UNREADABLE', `${name} is password-protected. Open it in a PDF reader, save a copy without the password, and add that.`);
        logged(name, error);
        fail('DOCUMENT_UNREADABLE', `${name} is damaged or is not a PDF.`);
    }
    const pages: string[] = [];
    let characters = 0;
    let length = 0;
    let emptyPages = 0;
    try {
        if (document.numPages > limits.maxPages) {
            fail('DOCUMENT_TOO_LARGE', `${name} has ${count(document.numPages)} pages; Headroom reads documents of up to ${count(limits.maxPages)} pages. Split it, or save the pages you need as a new PDF.`);
        }
        for (let number = 1; number <= document.numPages; number++) {
            const page = await document.getPage(number);
            const content = await page.getTextContent();
            let text = '';
            for (const item of content.items) {
                if (!('str' in item)) continue;
                text += item.str;
                if (item.hasEOL) text += '\n';
            }
            text = text.replace(/[ \t]+\n/g, '\n').replace(/\n{3,}/g, '\n\n').trim();
            characters += text.replace(/\s/g, '').length;
            if (text === '') emptyPages++;
            pages.push(`[Page ${number}]\n${text}`);
            length += text.length;
            checkChars(name, length, limits);
            page.cleanup();
            onProgress?.(number, document.numPages);
        }
    } finally {
        await document.cleanup();
        await document.loadingTask.destroy();
    }
    if (characters < Math.max(16, pages.length * 8)) {
        fail('DOCUMENT_UNREADABLE', `${name} has no text layer: it looks like a scan. Headroom reads text, not images; run it through OCR first (many PDF tools can), then add the result.`);
    }
    if (emptyPages > 0) warnings.push(`${emptyPages} of ${plural('page', pages.length)} ${emptyPages === 1 ? 'has' : 'have'} no text (images or scans).`);
    return { text: pages.join('\n\n'), pages: pages.length };
}

/** Entries mammoth never needs: images and embedded files are left out of what it reads. */
const DOCX_BINARIES = /^word\/(media|embeddings)\//;

async function extractDocx(name: string, bytes: Uint8Array, warnings: string[], limits: ExtractionLimits) {
    const archive = await BoundedZip.open(name, bytes, 'a Word document', limits.zip);
    if (!archive.has('word/document.xml')) fail('DOCUMENT_UNREADABLE', `${name} is damaged or is not a Word document (it has no document body).`);
    // mammoth inflates the zip itself, without limits: it gets the entries already inflated
    // within the budget, stored uncompressed.
    const stored = new JSZip();
    for (const entry of archive.names) {
        if (DOCX_BINARIES.test(entry)) continue;
        const content = await archive.bytes(entry);
        if (content != null) stored.file(entry, content, { compression: 'STORE' });
    }
    const buffer = await stored.generateAsync({ type: 'nodebuffer', compression: 'STORE' });
    const mammoth = (await import('mammoth')).default;
    let html: string;
    try {
        const result = await mammoth.convertToHtml({ buffer }, { convertImage: mammoth.images.imgElement(async () => ({ src: '' })) });
        html = result.value;
        const unknownStyles = result.messages.filter((m) => m.type === 'warning').length;
        if (unknownStyles > 0) warnings.push(`${unknownStyles} formatting details were not recognised; the text is complete.`);
    } catch (error) {
        logged(name, error);
        return fail('DOCUMENT_UNREADABLE', `${name} is damaged or is not a Word document.`);
    }
    checkChars(name, html.length, limits);
    return htmlToText(html).text;
}

/** A manifest href as a path in the zip; a malformed percent escape is kept as written. */
function hrefPath(base: string, href: string): string {
    let decoded = href;
    try {
        decoded = decodeURIComponent(href);
    } catch {
        // "chapter%E0%A4%A.xhtml": not an escape, so the name as it stands
    }
    return path.posix.join(base, decoded.split('#')[0] ?? decoded);
}

async function extractEpub(name: string, bytes: Uint8Array, onProgress: ExtractProgress | undefined, limits: ExtractionLimits) {
    const zip = await BoundedZip.open(name, bytes, 'an EPUB book', limits.zip);
    const container = await zip.text('META-INF/container.xml');
    const opfPath = container != null ? /full-path="([^"]+)"/.exec(container)?.[1] : undefined;
    const opf = opfPath != null ? await zip.text(opfPath) : undefined;
    if (opfPath == null || opf == null) return fail('DOCUMENT_UNREADABLE', `${name} is not a valid EPUB book (no package file).`);
    if (zip.has('META-INF/encryption.xml')) return fail('DOCUMENT_UNREADABLE', `${name} is DRM-protected; Headroom can only read EPUB books without DRM.`);
    const base = path.posix.dirname(opfPath);
    const manifest = new Map<string, string>();
    for (const item of opf.matchAll(/<item\b[^>]*>/g)) {
        const id = /\bid="([^"]+)"/.exec(item[0])?.[1];
        const href = /\bhref="([^"]+)"/.exec(item[0])?.[1];
        if (id != null && href != null) manifest.set(id, hrefPath(base, href));
    }
    // Each chapter once, in its first place: a spine that lists one chapter 300 times is one chapter.
    const spine = [...new Set([...opf.matchAll(/<itemref\b[^>]*\bidref="([^"]+)"/g)].map((m) => manifest.get(m[1] ?? '')).filter((p): p is string => p != null))];
    const chapters: string[] = [];
    let length = 0;
    for (const [index, chapterPath] of spine.entries()) {
        const html = await zip.text(chapterPath);
        if (html != null) {
            const text = htmlToText(html).text;
            if (text !== '') chapters.push(text);
            length += text.length;
            checkChars(name, length, limits);
        }
        onProgress?.(index + 1, spine.length);
    }
    if (chapters.length === 0) return fail('DOCUMENT_UNREADABLE', `${name} contains no readable text.`);
    return chapters.join('\n\n');
}

/** Extract a document's text. Throws HeadroomError with a message meant for the user. */
export async function extractDocument(name: string, bytes: Uint8Array, onProgress?: ExtractProgress, limits: ExtractionLimits = EXTRACTION_LIMITS): Promise<ExtractedDocument> {
    if (bytes.length === 0) fail('DOCUMENT_UNREADABLE', `${name} is empty (0 bytes).`);
    if (bytes.length > MAX_DOCUMENT_BYTES) {
        fail('DOCUMENT_TOO_LARGE', `${name} is ${(bytes.length / 1024 / 1024).toFixed(0)} MB; Headroom reads documents up to ${MAX_DOCUMENT_BYTES / 1024 / 1024} MB.`);
    }
    const kind = documentKind(name, bytes) ?? fail('UNSUPPORTED_DOCUMENT', `Headroom can't read ${path.extname(name) || 'this kind of'} files. It reads ${SUPPORTED}.`);
    const warnings: string[] = [];
    let text: string;
    let pages: number | null = null;
    switch (kind) {
        case 'pdf':
            ({ text, pages } = await extractPdf(name, bytes, onProgress, warnings, limits));
            break;
        case 'docx':
            text = await extractDocx(name, bytes, warnings, limits);
            break;
        case 'epub':
            text = await extractEpub(name, bytes, onProgress, limits);
            break;
        case 'html':
            text = htmlToText(decodeText(name, bytes, warnings)).text;
            break;
        case 'code': {
            const language = CODE[path.extname(name).toLowerCase()];
            text = `\`\`\`${language}\n${decodeText(name, bytes, warnings).replace(/\n$/, '')}\n\`\`\``;
            break;
        }
        default:
            text = decodeText(name, bytes, warnings).replace(/^\uFEFF/, '');
    }
    checkChars(name, text.length, limits);
    text = text.replace(/\r\n?/g, '\n');
    if (text.trim() === '') fail('DOCUMENT_UNREADABLE', `${name} contains no readable text.`);
    return { kind, text, pages, warnings };
}
