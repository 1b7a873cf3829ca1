// Documents end to end as a user would: drop a PDF on the window in Chromium, ask about a
// fact buried in its middle, get the answer from organism.gguf; then kill everything
// mid-generation and find the chat, the document and a sound database after a restart.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { DATABASE_FILE } from '../backend/backend.ts';
import { launchChromium } from './support/browser.ts';
import { haystackPdf, haystackText, passkey } from './support/haystack.ts';
import { chatModelForTests, ORGANISM } from './support/models.ts';
import { requiresNative } from './support/native.ts';
import { serve, stop, type Served } from './support/serve.ts';

const results = fileURLToPath(new URL('../test-results/', import.meta.url));

/** Drop files on the window the way a file manager does: dragover, then drop, with real Files. */
async function dropFiles(page: Page, files: Array<{ name: string; type: string; bytes: Buffer }>) {
    await page.evaluate((payload) => {
        const transfer = new DataTransfer();
        for (const file of payload) {
            const bytes = Uint8Array.from(atob(file.base64), (c) => c.charCodeAt(0));
            transfer.items.add(new File([bytes], file.name, { type: file.type }));
        }
        const target = document.querySelector('.app');
        if (target == null) throw new Error('the app is not on the page');
        target.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
        target.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }, files.map((f) => ({ name: f.name, type: f.type, base64: f.bytes.toString('base64') })));
}

// Each KV setting the document chat must answer under: the stock cache, and the head-level
// cache keeping a quarter of it (the PDF is several times longer than the streaming window).
const VARIANTS: Array<{ name: string; serveArgs: string[]; compressed: boolean }> = [
    { name: 'KV compression off', serveArgs: ['--kv', 'off'], compressed: false },
    { name: 'KV budget 25%', serveArgs: ['--kv', '0.25', '--context', '2048'], compressed: true },
];

for (const variant of VARIANTS) {
    describe(`document chat in Chromium (${variant.name})`, variant.compressed ? requiresNative() : {}, () => {
        const fact = passkey('amber compass', '61847');
        let served: Served;
        let browser: Browser;
        let page: Page;

        before(async () => {
            served = await serve(['--model', ORGANISM, '--port', '0', '--data-dir', await mkdtemp(path.join(os.tmpdir(), 'headroom-docs-')), ...variant.serveArgs]);
            browser = await launchChromium();
            page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
            await mkdir(results, { recursive: true });
        });
        after(async () => {
            await browser?.close();
            if (served != null) await stop(served.child);
        });

        test('a dropped PDF is read with a progress bar, counted, and answered from', async () => {
            await page.goto(served.url);
            await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).waitFor({ timeout: 60_000 });
            await dropFiles(page, [{ name: 'field-manual.pdf', type: 'application/pdf', bytes: haystackPdf(fact.fact) }]);
            const chip = page.getByTestId('document').filter({ hasText: 'field-manual.pdf' });
            await chip.waitFor({ timeout: 60_000 });
            const facts = await chip.textContent() ?? '';
            const tokens = Number(/([\d,]+) tokens/.exec(facts)?.[1]?.replace(/,/g, ''));
            assert.ok(tokens > 1000 && tokens <= 1600, `about 1,500 tokens (${facts})`);
            assert.match(facts, /\d+ pages/);
            assert.match(await page.getByTestId('context-budget').textContent() ?? '', /Documents [\d,]+.*free/);

            await page.getByLabel('Message').fill(fact.question);
            await page.keyboard.press('Enter');
            const reply = page.getByTestId('message-assistant').last();
            await reply.locator('.message-text').filter({ hasText: fact.digits }).waitFor({ timeout: 60_000 });
            await page.getByTestId('prefill-note').waitFor();
            assert.match(await page.getByTestId('prefill-note').textContent() ?? '', /Read [\d,]+ of [\d,]+ prompt tokens/);
            assert.match(await page.locator('.chat-title').textContent() ?? '', /What is the passcode for the amber compass/);
            const policies = new Set(await page.getByTestId('head-cell').evaluateAll((cells) => cells.map((c) => c.getAttribute('data-policy'))));
            assert.deepEqual([...policies].sort(), variant.compressed ? ['full', 'streaming'] : ['full'], 'the head map shows the cache that answered');
            await page.screenshot({ path: path.join(results, `document-chat-${variant.serveArgs.join('')}.png`) });
        });

        test('a file the app cannot read gets a clear message and the chat stays intact', async () => {
            await dropFiles(page, [{ name: 'holiday.png', type: 'image/png', bytes: Buffer.from('\x89PNG\r\n\x1a\n') }]);
            await page.getByTestId('chat-error').filter({ hasText: "Headroom can't read .png files" }).waitFor();
            assert.equal(await page.getByTestId('document').count(), 1);
            assert.equal(await page.getByTestId('message-assistant').count(), 1);
        });
    });
}

describe('a kill mid-generation loses nothing but the token being written', () => {
    let dataDir: string;
    let served: Served | null = null;
    let browser: Browser;

    before(async () => {
        dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-kill-'));
        browser = await launchChromium();
    });
    after(async () => {
        await browser?.close();
        if (served != null) await stop(served.child);
    });

    test('SIGKILL to the server and the engine mid-reply; after a restart the chat, its document and the partial reply are there', async () => {
        // The random-weight model never ends a reply on its own: it is always mid-generation.
        const model = await chatModelForTests();
        served = await serve(['--model', model, '--port', '0', '--data-dir', dataDir]);
        const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        await page.goto(served.url);
        await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).waitFor({ timeout: 60_000 });
        // Through the file picker this time.
        await page.locator('#attach-input').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from(haystackText('', 1500)) });
        await page.getByTestId('document').filter({ hasText: 'notes.txt' }).waitFor({ timeout: 60_000 });
        await page.getByLabel('Message').fill('Summarise the notes.');
        await page.keyboard.press('Enter');
        const text = page.getByTestId('message-assistant').last().locator('.message-text');
        await page.waitForFunction(() => ([...document.querySelectorAll('.message-assistant .message-text')].at(-1)?.textContent?.length ?? 0) > 40);
        const seen = (await text.textContent()) ?? '';
        await stop(served.child, 'SIGKILL');
        served = null;
        await page.close();

        served = await serve(['--model', model, '--port', '0', '--data-dir', dataDir]);
        const again = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        await again.goto(served.url);
        await again.getByTestId('document').filter({ hasText: 'notes.txt' }).waitFor({ timeout: 60_000 });
        assert.equal(await again.locator('.chat-title').textContent(), 'Summarise the notes.');
        assert.equal(await again.getByTestId('message-user').locator('.message-text').textContent(), 'Summarise the notes.');
        await again.getByText('Cut off when Headroom stopped').waitFor();

        const db = new DatabaseSync(path.join(dataDir, DATABASE_FILE), { readOnly: true });
        try {
            assert.equal((db.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check, 'ok');
            const stored = db.prepare("SELECT text, status FROM messages WHERE role = 'assistant'").get() as { text: string; status: string };
            assert.equal(stored.status, 'interrupted');
            // The page shows the reply as rendered Markdown, never longer than the raw text.
            assert.ok(stored.text.length >= seen.length, `every streamed token the page saw was already on disk (${stored.text.length} ≥ ${seen.length})`);
            assert.equal((db.prepare('SELECT COUNT(*) AS n FROM documents').get() as { n: number }).n, 1);
        } finally {
            db.close();
        }
    });
});
