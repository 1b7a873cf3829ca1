// Document extraction on real files: generated PDFs, DOCX and EPUB packages, HTML, text,
// code, and the bad ones (encrypted, corrupt, scanned, empty, binary, unsupported, too large).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { extractDocument, MAX_DOCUMENT_BYTES } from '../../backend/documents/extract.ts';
import { HeadroomError } from '../../common/errors.ts';
import { makeDocx, makeEpub, makePdf } from '../support/documents.ts';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

async function refused(name: string, bytes: Uint8Array, code: string, message: RegExp) {
    await assert.rejects(extractDocument(name, bytes), (error: HeadroomError) => {
        assert.equal(error.code, code);
        assert.match(error.message, message);
        return true;
    });
}

describe('document extraction', () => {
    test('a multi-page PDF keeps its pages, in order, with page numbers, and reports progress', async () => {
        const pdf = makePdf([
            ['Chapter One', 'The lighthouse keeper (Ana) counted ships.'],
            ['Chapter Two', 'The passcode for the amber gate is 90417.'],
            ['Chapter Three', 'Storms came in autumn.'],
        ]);
        const progress: string[] = [];
        const doc = await extractDocument('report.pdf', pdf, (done, total) => progress.push(`${done}/${total}`));
        assert.equal(doc.kind, 'pdf');
        assert.equal(doc.pages, 3);
        assert.deepEqual(progress, ['1/3', '2/3', '3/3']);
        assert.match(doc.text, /^\[Page 1\]\nChapter One\nThe lighthouse keeper \(Ana\) counted ships\.\n\n\[Page 2\]\nChapter Two\nThe passcode for the amber gate is 90417\.\n\n\[Page 3\]/);
        assert.deepEqual(doc.warnings, []);
    });

    test('pages without text are counted; a PDF with no text layer at all is called a scan', async () => {
        const partly = await extractDocument('mixed.pdf', makePdf([['Some text on the first page.', 'And more of it here.'], []]));
        assert.deepEqual(partly.warnings, ['1 of 2 pages has no text (images or scans).']);
        await refused('scan.pdf', makePdf([[], [], []]), 'DOCUMENT_UNREADABLE', /^scan\.pdf has no text layer: it looks like a scan\. .*OCR/);
    });

    test('an encrypted PDF and a corrupt PDF get clear messages', async () => {
        await refused('locked.pdf', await readFile(fixture('encrypted.pdf')), 'DOCUMENT_UNREADABLE', /^locked\.pdf is password-protected\. /);
        const truncated = makePdf([['Hello']]).subarray(0, 60);
        await refused('broken.pdf', truncated, 'DOCUMENT_UNREADABLE', /^broken\.pdf is damaged or is not a PDF/);
        await refused('fake.pdf', Buffer.from('this is not a pdf at all'), 'DOCUMENT_UNREADABLE', /^fake\.pdf is damaged or is not a PDF/);
    });

    test('DOCX keeps headings, paragraphs, lists and tables', async () => {
        const docx = await makeDocx({
            heading: 'Field notes',
            paragraphs: ['The river rose two metres in March.', 'Nobody expected the thaw so early.'],
            bullets: ['Check the gauges', 'Call the warden'],
            table: [['Station', 'Level'], ['North', '2.1 m'], ['South', '1.7 m']],
        });
        const doc = await extractDocument('notes.docx', docx);
        assert.equal(doc.kind, 'docx');
        assert.match(doc.text, /^# Field notes\n\nThe river rose two metres in March\.\n\nNobody expected the thaw so early\./);
        assert.match(doc.text, /Check the gauges/);
        assert.match(doc.text, /\| Station \| Level \|\n\| North \| 2\.1 m \|\n\| South \| 1\.7 m \|/);
        await refused('broken.docx', Buffer.from('PK\x03\x04 not really a zip'), 'DOCUMENT_UNREADABLE', /^broken\.docx is damaged or is not a Word document/);
    });

    test('EPUB chapters come out in spine order, as text', async () => {
        const epub = await makeEpub('A Small Book', [
            { title: 'The Harbour', paragraphs: ['Boats & nets lay on the quay.'] },
            { title: 'The Storm', paragraphs: ['Waves rose over the wall.', 'By dawn it was calm.'] },
        ]);
        const progress: number[] = [];
        const doc = await extractDocument('book.epub', epub, (done) => progress.push(done));
        assert.equal(doc.kind, 'epub');
        assert.equal(doc.text, '# The Harbour\n\nBoats & nets lay on the quay.\n\n# The Storm\n\nWaves rose over the wall.\n\nBy dawn it was calm.');
        assert.deepEqual(progress, [1, 2]);
    });

    test('HTML becomes readable text: no scripts or styles, lists and tables kept', async () => {
        const html = `<!doctype html><html><head><title>Guide</title><style>body{color:red}</style><script>alert(1)</script></head>
            <body><nav>Home | About</nav><h1>Setup  guide</h1><p>Install the <b>engine</b>&nbsp;first.<br>Then run it.</p>
            <ol><li>Download</li><li>Unpack<ul><li>on Linux</li></ul></li></ol>
            <table><tr><th>Key</th><th>Value</th></tr><tr><td>port</td><td>4310</td></tr></table><pre>npm start
  --verbose</pre></body></html>`;
        const doc = await extractDocument('guide.html', Buffer.from(html));
        assert.equal(doc.text, '# Setup guide\n\nInstall the engine first.\nThen run it.\n\n1. Download\n2. Unpack\n  - on Linux\n\n| Key | Value |\n| port | 4310 |\n\n```\nnpm start\n  --verbose\n```');
    });

    test('Markdown, plain text (UTF-8, UTF-16, Windows-1252) and source code', async () => {
        assert.equal((await extractDocument('README.md', Buffer.from('# Title\r\n\r\nBody ✓\r\n'))).text, '# Title\n\nBody ✓\n');
        assert.equal((await extractDocument('LICENSE', Buffer.from('MIT License\n'))).kind, 'text');
        const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('héllo wörld', 'utf16le')]);
        assert.equal((await extractDocument('notes.txt', utf16)).text, 'héllo wörld');
        const latin = await extractDocument('old.txt', Buffer.from([0x63, 0x61, 0x66, 0xe9]));
        assert.equal(latin.text, 'café');
        assert.deepEqual(latin.warnings, ['The file is not valid UTF-8; it was read as Windows-1252.']);
        const code = await extractDocument('main.py', Buffer.from('def main():\n    return 42\n'));
        assert.equal(code.kind, 'code');
        assert.equal(code.text, '```python\ndef main():\n    return 42\n```');
    });

    test('empty, binary, unsupported and oversized files are refused with a reason', async () => {
        await refused('empty.txt', new Uint8Array(0), 'DOCUMENT_UNREADABLE', /^empty\.txt is empty \(0 bytes\)\.$/);
        await refused('data.txt', Buffer.from([0x00, 0x01, 0x02, 0x41]), 'DOCUMENT_UNREADABLE', /^data\.txt is a binary file, not text\.$/);
        await refused('photo.png', Buffer.from([0x89, 0x50, 0x4e, 0x47]), 'UNSUPPORTED_DOCUMENT', /^Headroom can't read \.png files\. It reads PDF, DOCX, EPUB, HTML, Markdown, plain text and source code\.$/);
        await refused('huge.txt', new Uint8Array(MAX_DOCUMENT_BYTES + 1), 'DOCUMENT_TOO_LARGE', /^huge\.txt is 64 MB; Headroom reads documents up to 64 MB\.$/);
        await refused('blank.md', Buffer.from('  \n\n  '), 'DOCUMENT_UNREADABLE', /^blank\.md contains no readable text\.$/);
    });
});
