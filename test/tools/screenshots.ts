// Regenerates the screenshots in docs/ from the real app in web mode:
//   node test/tools/screenshots.ts
// The organism model answers in milliseconds; oversubscribed threads slow it down enough
// to catch the reply mid-stream.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../support/browser.ts';
import { ORGANISM } from '../support/models.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const docs = path.join(root, 'docs');

const server = spawn(process.execPath, ['electron/web/serve.ts', '--model', ORGANISM, '--port', '0', '--threads', '16'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise<string>((resolve) => {
    server.stdout!.on('data', (chunk: Buffer) => {
        const match = /running at (\S+)/.exec(chunk.toString());
        if (match != null) resolve(match[1]);
    });
});

const licenseText = (await readFile('/usr/share/common-licenses/GPL-3', 'utf8').catch(() => 'Lorem ipsum. '.repeat(300))).slice(0, 2500);
const question = `${licenseText.slice(0, 1200)}\nThe passcode for the silver lantern is 39127.\n${licenseText.slice(1200)}\n\nWhat is the passcode for the silver lantern?`;

const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
await page.goto(url);
await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).waitFor({ timeout: 60_000 });
await page.getByLabel('Message').fill(question);
await page.keyboard.press('Enter');
await page.waitForFunction(() => /silver/.test([...document.querySelectorAll('.message-assistant .message-text')].at(-1)?.textContent ?? ''), undefined, { timeout: 120_000 });
await page.screenshot({ path: path.join(docs, 'chat-streaming.png') });
await page.getByTestId('message-assistant').last().locator('.message-text').filter({ hasText: '39127' }).waitFor({ timeout: 120_000 });
await browser.close();
server.kill('SIGTERM');
console.log(`wrote ${path.join(docs, 'chat-streaming.png')}`);
