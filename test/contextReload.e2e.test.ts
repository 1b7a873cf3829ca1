// Long context, end to end in Chromium: organism.gguf (trained for 4,096 tokens) served at a
// 1,024-token context, a chat with a note and an answered question, then a PDF longer than the
// context dropped on the window. The refusal offers the reload the planner says fits; one click
// reloads the model with progress and adds the PDF; the note and the conversation are still
// there, and the PDF's buried fact is answered from. The model card and the gauges say how the
// context was chosen.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { openApp, results, type OpenApp } from './support/app.ts';
import { haystackPdf, passkey } from './support/haystack.ts';
import { ORGANISM } from './support/models.ts';

/** Drop files on the window the way a file manager does: dragover, then drop, with real Files. */
async function dropFile(page: Page, file: { name: string; type: string; bytes: Buffer }) {
    await page.evaluate((payload) => {
        const transfer = new DataTransfer();
        const bytes = Uint8Array.from(atob(payload.base64), (c) => c.charCodeAt(0));
        transfer.items.add(new File([bytes], payload.name, { type: payload.type }));
        const target = document.querySelector('.app');
        if (target == null) throw new Error('the app is not on the page');
        target.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
        target.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }, { name: file.name, type: file.type, base64: file.bytes.toString('base64') });
}

async function ask(page: Page, question: string, digits: string) {
    await page.getByLabel('Message').fill(question);
    await page.keyboard.press('Enter');
    await page.getByTestId('message-assistant').last().locator('.message-text').filter({ hasText: digits }).waitFor({ timeout: 90_000 });
}

describe('a document longer than the context is offered a reload that fits (organism.gguf in Chromium)', () => {
    const note = passkey('green harbor', '50628');
    const buried = passkey('amber compass', '61847');
    let app: OpenApp | undefined;
    let page: Page;

    before(async () => {
        // A smaller context than the model was trained for, set as the saved setting.
        app = await openApp(['--model', ORGANISM, '--port', '0', '--data-dir', await mkdtemp(path.join(os.tmpdir(), 'headroom-reload-')), '--context', '1024', '--kv', 'off']);
        page = app.page;
    });
    after(async () => {
        await app?.close();
    });

    test('the model card and the context gauge say how the context was chosen', async () => {
        assert.match(await page.getByTestId('model-context').textContent() ?? '', /^1,024 tokens/);
        assert.equal(await page.getByTestId('context-choice').textContent(), 'Set in Settings: 1,024 tokens.');
        await page.getByTestId('gauge-context').waitFor();
        assert.match(await page.getByTestId('gauge-context').textContent() ?? '', /Set in Settings: 1,024 tokens\./);
    });

    test('a chat with a note and an answer; a PDF longer than the context is offered a reload, taken in one click, and answered from', async () => {
        await dropFile(page, { name: 'harbor-notes.md', type: 'text/markdown', bytes: Buffer.from(`# Harbor notes\n\n${note.fact}\n`) });
        await page.getByTestId('document').filter({ hasText: 'harbor-notes.md' }).waitFor({ timeout: 60_000 });
        await ask(page, note.question, note.digits);

        // About 1,500 tokens: more than the 1,024-token context holds.
        await dropFile(page, { name: 'field-manual.pdf', type: 'application/pdf', bytes: haystackPdf(buried.fact) });
        const offer = page.getByTestId('reload-offer');
        await offer.waitFor({ timeout: 60_000 });
        assert.match(await page.getByTestId('reload-offer-message').textContent() ?? '',
            /^field-manual\.pdf has [\d,]+ tokens, but only [\d,]+ fit beside the other documents \([\d,]+ tokens\) in the 1,024-token context with room for a reply\. A 3,072-token context fits here: reload the model with it to add this\.$/);
        const action = page.getByTestId('reload-offer-action');
        assert.equal(await action.count(), 1);
        assert.match(await action.textContent() ?? '', /^Reload with 3K tokens: KV [\d.]+ (MiB|GiB) full cache, fits$/);
        // The offer has the keyboard: Enter takes it.
        assert.equal(await action.evaluate((button) => button === document.activeElement), true, 'the action has the focus');
        await page.screenshot({ path: path.join(results, 'reload-offer.png') });

        // One click: the reload's progress, then the document is added.
        await page.evaluate(() => {
            const seen = { progress: false };
            (window as unknown as { offerSeen: typeof seen }).offerSeen = seen;
            new MutationObserver(() => {
                if (document.querySelector('[data-testid="reload-offer-progress"]') != null) seen.progress = true;
            }).observe(document.body, { childList: true, subtree: true });
        });
        await page.keyboard.press('Enter');
        await page.getByTestId('document').filter({ hasText: 'field-manual.pdf' }).waitFor({ timeout: 120_000 });
        await offer.waitFor({ state: 'detached' });
        assert.equal(await page.evaluate(() => (window as unknown as { offerSeen: { progress: boolean } }).offerSeen.progress), true, 'the reload showed its progress');
        assert.equal(await page.getByTestId('chat-error').count(), 0, 'no error');
        assert.match(await page.getByTestId('model-context').textContent() ?? '', /^3,072 tokens/);
        assert.equal(await page.getByTestId('context-choice').textContent(), 'Chosen for this load; Settings say 1,024 tokens.');

        // Nothing in the chat was lost: the note, the question and its answer are still there.
        assert.deepEqual(await page.getByTestId('document').locator('.doc-name').allTextContents(), ['harbor-notes.md', 'field-manual.pdf']);
        assert.equal(await page.getByTestId('message-user').first().locator('.message-text').textContent(), note.question);
        assert.match(await page.getByTestId('message-assistant').first().locator('.message-text').textContent() ?? '', new RegExp(note.digits));

        // And the PDF is answered from.
        await ask(page, buried.question, buried.digits);
        assert.match(await page.getByTestId('context-budget').textContent() ?? '', /Documents [\d,]+.*free/);
        await page.screenshot({ path: path.join(results, 'reload-offer-taken.png') });
    });
});
