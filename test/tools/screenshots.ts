// Regenerates the screenshots in docs/ from the real app in web mode:
//   node test/tools/screenshots.ts
// docs/document-chat.png: a PDF dropped on the window and a question answered from it, with
// KV compression at a 25% budget (the head map shows it).
// docs/chat-streaming.png: a reply caught mid-stream.
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../support/browser.ts';
import { haystackPdf, haystackText, passkey } from '../support/haystack.ts';
import { ORGANISM } from '../support/models.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const docs = path.join(root, 'docs');
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'headroom-shots-'));

async function startServer(extraArgs: string[]) {
    const server = spawn(process.execPath, ['server/serve.ts', '--model', ORGANISM, '--port', '0', '--data-dir', dataDir, ...extraArgs], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    const url = await new Promise<string>((resolve) => {
        server.stdout.on('data', (chunk: Buffer) => {
            const url = /running at (\S+)/.exec(chunk.toString())?.[1];
            if (url != null) resolve(url);
        });
    });
    return { server, url };
}

const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
// The document chat runs on the head-level cache at a quarter of the full cache's memory.
const { server, url } = await startServer(['--kv', '0.25', '--context', '2048']);
await page.goto(url);
await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).waitFor({ timeout: 60_000 });

// A document chat: two files dropped, a question about a fact buried in the PDF.
const compass = passkey('amber compass', '61847');
const files = [
    { name: 'field-manual.pdf', type: 'application/pdf', base64: haystackPdf(compass.fact).toString('base64') },
    { name: 'harbor-notes.md', type: 'text/markdown', base64: Buffer.from(`# Harbor notes\n\n${haystackText('', 150)}\n`).toString('base64') },
];
await page.evaluate((payload) => {
    const transfer = new DataTransfer();
    for (const file of payload) transfer.items.add(new File([Uint8Array.from(atob(file.base64), (c) => c.charCodeAt(0))], file.name, { type: file.type }));
    const target = document.querySelector('.app');
    if (target == null) throw new Error('the app is not on the page');
    target.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    target.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
}, files);
await page.getByTestId('document').nth(1).waitFor({ timeout: 60_000 });
await page.getByLabel('Message').fill(compass.question);
await page.keyboard.press('Enter');
await page.getByTestId('message-assistant').last().locator('.message-text').filter({ hasText: compass.digits }).waitFor({ timeout: 120_000 });
await page.getByLabel('Message').fill('Which documents do you have?');
await page.waitForTimeout(300);
await page.screenshot({ path: path.join(docs, 'document-chat.png') });

// Mid-stream, in a chat of its own: outside its passkey task the organism writes
// documentation until stopped, so the reply is caught while it streams, then stopped.
await page.getByRole('button', { name: '+ New' }).click();
await page.getByLabel('Message').fill('Describe the license of this package in detail.');
await page.keyboard.press('Enter');
await page.waitForFunction(() => ([...document.querySelectorAll('.message-assistant .message-text')].at(-1)?.textContent?.length ?? 0) > 300, undefined, { timeout: 120_000 });
await page.screenshot({ path: path.join(docs, 'chat-streaming.png') });
await page.getByRole('button', { name: 'Stop' }).click();
await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).waitFor();
await browser.close();
server.kill('SIGTERM');
console.log(`wrote ${path.join(docs, 'document-chat.png')} and ${path.join(docs, 'chat-streaming.png')}`);
