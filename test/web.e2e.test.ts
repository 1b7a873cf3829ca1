// End to end as a user would: `npm run serve`, the page in Debian's Chromium, a message,
// tokens streaming in, Stop; and the per-launch token guarding every page and socket.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
import { launchChromium } from './support/browser.ts';
import { chatModelForTests } from './support/models.ts';
import { serve, stop, type Served } from './support/serve.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const results = path.join(root, 'test-results');

function socketStatus(url: string, origin?: string): Promise<number> {
    return new Promise((resolve) => {
        const ws = new WebSocket(url, origin != null ? { origin } : {});
        ws.on('open', () => {
            ws.close();
            resolve(101);
        });
        ws.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
        ws.on('error', () => resolve(0));
    });
}

declare global {
    var lastReplyLength: () => number;
}

describe('web mode end to end (npm run serve + Chromium)', () => {
    let served: Served;
    let browser: Browser;
    let page: Page;

    before(async () => {
        const model = await chatModelForTests();
        served = await serve(['--model', model, '--port', '0', '--data-dir', await mkdtemp(path.join(os.tmpdir(), 'headroom-web-'))]);
        browser = await launchChromium();
        page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        await mkdir(results, { recursive: true });
    });

    after(async () => {
        await browser?.close();
        if (served != null) await stop(served.child);
    });

    test('prints exactly one line: the address with its token', () => {
        assert.deepEqual(served.stdoutLines(), [`Headroom is running at ${served.url}`]);
        assert.ok(served.token.length >= 24);
    });

    test('refuses pages, assets and sockets without the right token', async () => {
        const { origin, token } = served;
        assert.equal((await fetch(`${origin}/`)).status, 401);
        assert.equal((await fetch(`${origin}/?token=wrong`)).status, 401);
        assert.equal((await fetch(`${origin}/?token=${token}x`)).status, 401);
        assert.equal((await fetch(`${origin}/index.html`)).status, 401);
        const page = await fetch(`${origin}/?token=${token}`);
        assert.equal(page.status, 200);
        assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'; script-src 'self'/);
        const asset = /src="\.\/(assets\/[^"]+\.js)"/.exec(await page.text())?.[1];
        assert.ok(asset != null, 'the page references its script');
        assert.equal((await fetch(`${origin}/${asset}`)).status, 401, 'assets need the token too');
        assert.equal((await fetch(`${origin}/${asset}`, { headers: { cookie: `headroom_token_${new URL(origin).port}=${token}` } })).status, 200);

        const ws = origin.replace('http', 'ws');
        assert.equal(await socketStatus(`${ws}/rpc`), 401);
        assert.equal(await socketStatus(`${ws}/rpc?token=wrong`), 401);
        assert.equal(await socketStatus(`${ws}/rpc?token=${token}`, 'http://evil.example'), 401, 'other sites cannot open the socket');
        assert.equal(await socketStatus(`${ws}/rpc?token=${token}`, origin), 101);
    });

    test('a message streams in token by token, and Stop stops it', async () => {
        await page.goto(served.url);
        // In the page: how much of the newest reply has streamed in so far.
        await page.evaluate(() => {
            globalThis.lastReplyLength = () => [...document.querySelectorAll('.message-assistant .message-text')].at(-1)?.textContent?.length ?? 0;
        });
        await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).waitFor({ timeout: 60_000 });
        await page.getByLabel('Message').fill('Tell me a long story about the sea.');
        await page.keyboard.press('Enter');

        const reply = page.getByTestId('message-assistant').last().locator('.message-text');
        await page.waitForFunction(() => lastReplyLength() > 0);
        const early = (await reply.textContent()) ?? '';
        await page.waitForFunction((length) => lastReplyLength() > length + 20, early.length);
        const later = (await reply.textContent()) ?? '';
        assert.ok(later.startsWith(early) && later.length > early.length, 'the reply grows as tokens arrive');
        await page.getByTestId('engine-status').filter({ hasText: 'Generating' }).waitFor();
        await page.screenshot({ path: path.join(results, 'chat-streaming.png') });

        await page.getByRole('button', { name: 'Stop' }).click();
        await page.getByTestId('message-assistant').last().getByText('Stopped').waitFor();
        await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).waitFor();
        const stopped = (await reply.textContent()) ?? '';
        await page.waitForTimeout(500);
        assert.equal(await reply.textContent(), stopped, 'nothing streams in after Stop');
        assert.ok(stopped.startsWith(later));
        assert.equal(await page.getByRole('button', { name: 'Send' }).count(), 1, 'the composer is ready again');
    });

    test('a second turn carries the conversation and Escape stops it from the keyboard', async () => {
        await page.getByLabel('Message').fill('And then?');
        await page.keyboard.press('Enter');
        await page.waitForFunction(() => document.querySelectorAll('.message-assistant').length === 2 && lastReplyLength() > 0);
        await page.getByLabel('Message').press('Escape');
        await page.getByTestId('message-assistant').last().getByText('Stopped').waitFor();
        assert.equal(await page.getByTestId('message-user').count(), 2);
    });
});
