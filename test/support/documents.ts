// Real documents made in the tests: multi-page PDFs (a small PDF 1.4 writer with the
// standard Helvetica font), DOCX and EPUB packages (zip files built with JSZip).
import JSZip from 'jszip';

function pdfEscape(text: string): string {
    return text.replace(/[\\()]/g, (c) => `\\${c}`).replace(/[^\x20-\x7e]/g, '?');
}

/** Lines wrapped to fit a page; each page is an array of lines. */
export function paginate(text: string, linesPerPage = 48, charsPerLine = 90): string[][] {
    const lines: string[] = [];
    for (const paragraph of text.split('\n')) {
        let line = '';
        for (const word of paragraph.split(/\s+/).filter(Boolean)) {
            if (line.length + word.length + 1 > charsPerLine && line !== '') {
                lines.push(line);
                line = word;
            } else {
                line = line === '' ? word : `${line} ${word}`;
            }
        }
        lines.push(line);
    }
    const pages: string[][] = [];
    for (let i = 0; i < lines.length; i += linesPerPage) pages.push(lines.slice(i, i + linesPerPage));
    return pages;
}

/** A text PDF with one page per entry (empty entries make pages without text). */
export function makePdf(pages: string[][]): Buffer {
    const objects: string[] = [];
    const add = (body: string) => objects.push(body) - 1 + 1; // 1-based object numbers
    add('<< /Type /Catalog /Pages 2 0 R >>');
    add(''); // the page tree, written once the page numbers are known
    const font = add('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>');
    const kids: number[] = [];
    for (const lines of pages) {
        const stream = lines.length === 0
            ? ''
            : `BT /F1 10 Tf 14 TL 50 780 Td ${lines.map((l) => `(${pdfEscape(l)}) Tj T*`).join(' ')} ET`;
        const content = add(`<< /Length ${Buffer.byteLength(stream)} >>\nstream\n${stream}\nendstream`);
        kids.push(add(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Resources << /Font << /F1 ${font} 0 R >> >> /Contents ${content} 0 R >>`));
    }
    objects[1] = `<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(' ')}] /Count ${kids.length} >>`;

    let pdf = '%PDF-1.4\n';
    const offsets: number[] = [];
    objects.forEach((body, i) => {
        offsets.push(Buffer.byteLength(pdf));
        pdf += `${i + 1} 0 obj\n${body}\nendobj\n`;
    });
    const xref = Buffer.byteLength(pdf);
    pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
    pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
    return Buffer.from(pdf, 'latin1');
}

const xmlEscape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A Word document: a heading, paragraphs, a bulleted list and a table. */
export async function makeDocx(content: { heading: string; paragraphs: string[]; bullets: string[]; table: string[][] }): Promise<Buffer> {
    const zip = new JSZip();
    zip.file('[Content_Types].xml', '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/></Types>');
    zip.file('_rels/.rels', '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>');
    zip.file('word/_rels/document.xml.rels', '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>');
    zip.file('word/styles.xml', '<?xml version="1.0" encoding="UTF-8"?><w:styles xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/></w:style><w:style w:type="paragraph" w:styleId="ListBullet"><w:name w:val="List Bullet"/></w:style></w:styles>');
    const paragraph = (text: string, style?: string) =>
        `<w:p>${style != null ? `<w:pPr><w:pStyle w:val="${style}"/></w:pPr>` : ''}<w:r><w:t xml:space="preserve">${xmlEscape(text)}</w:t></w:r></w:p>`;
    const table = `<w:tbl>${content.table.map((row) => `<w:tr>${row.map((cell) => `<w:tc>${paragraph(cell)}</w:tc>`).join('')}</w:tr>`).join('')}</w:tbl>`;
    const body = [
        paragraph(content.heading, 'Heading1'),
        ...content.paragraphs.map((p) => paragraph(p)),
        ...content.bullets.map((b) => paragraph(b, 'ListBullet')),
        table,
    ].join('');
    zip.file('word/document.xml', `<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${body}</w:body></w:document>`);
    return zip.generateAsync({ type: 'nodebuffer' });
}

/** An EPUB 3 book with chapters in spine order (listed in the manifest out of order). */
export async function makeEpub(title: string, chapters: Array<{ title: string; paragraphs: string[] }>): Promise<Buffer> {
    const zip = new JSZip();
    zip.file('mimetype', 'application/epub+zip', { compression: 'STORE' });
    zip.file('META-INF/container.xml', '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>');
    const ids = chapters.map((_, i) => `ch${i + 1}`);
    const manifest = [...ids].reverse().map((id) => `<item id="${id}" href="text/${id}.xhtml" media-type="application/xhtml+xml"/>`).join('');
    zip.file('OEBPS/content.opf', `<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>${xmlEscape(title)}</dc:title></metadata><manifest>${manifest}</manifest><spine>${ids.map((id) => `<itemref idref="${id}"/>`).join('')}</spine></package>`);
    chapters.forEach((chapter, i) => {
        zip.file(`OEBPS/text/${ids[i]}.xhtml`, `<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>${xmlEscape(chapter.title)}</title><style>p { margin: 0 }</style></head><body><h1>${xmlEscape(chapter.title)}</h1>${chapter.paragraphs.map((p) => `<p>${xmlEscape(p)}</p>`).join('')}</body></html>`);
    });
    return zip.generateAsync({ type: 'nodebuffer' });
}
