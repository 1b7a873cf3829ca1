// The chat controls people expect and one home for their data, end to end as a user meets them:
// `npm run serve` on a home where the desktop app of an earlier version left a chat (moved in
// once, with a line saying so), then in Debian's Chromium with the keyboard: search (Ctrl+K,
// arrows, Enter), the chat's own settings (a system prompt, sampling, refusals in words), the chat
// exported as Markdown, and Settings → Where your data lives (a browser shows the paths).
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { HeadroomDatabase } from '../backend/database.ts';
import { openApp, results, type OpenApp } from './support/app.ts';
import { ORGANISM } from './support/models.ts';
import type { Served } from './support/serve.ts';

describe('chat controls and the data home in Chromium (organism.gguf)', () => {
    let home: string;
    let app: OpenApp | undefined;
    let served: Served;
    let page: Page;

    before(async () => {
        home = await mkdtemp(path.join(os.tmpdir(), 'headroom-home-'));
        // What the desktop app of an earlier version left in Electron's userData on Linux.
        const legacy = new HeadroomDatabase(path.join(home, '.config', 'Headroom', 'headroom.sqlite'));
        const chat = legacy.createChat('Harbor codes');
        legacy.addMessage(chat.id, 'user', 'What is the passcode for the golden harbor?', 'done');
        legacy.addMessage(chat.id, 'assistant', 'The golden harbor passcode is 4417.', 'done');
        legacy.createChat('Grocery list');
        legacy.close();
        app = await openApp(['--model', ORGANISM, '--port', '0', '--context', '2048'], {
            HOME: home, XDG_DATA_HOME: '', XDG_CONFIG_HOME: '', XDG_CACHE_HOME: '', XDG_STATE_HOME: '', HEADROOM_PROFILE_DIR: '', HEADROOM_MODEL_HASHES: '',
        }, undefined, { acceptDownloads: true });
        served = app.served;
        page = app.page;
    });

    after(async () => {
        await app?.close();
    });

    test('the earlier desktop app\'s chats were moved into the one data home, with a line saying so', async () => {
        const data = path.join(home, '.local', 'share', 'headroom');
        assert.match(served.stderrText(), new RegExp(`Headroom moved its data from ${path.join(home, '.config', 'Headroom')} to ${data} \\(2 chats\\)\\.`));
        await page.getByRole('button', { name: 'Harbor codes' }).waitFor();
        const log = await readFile(path.join(home, '.local', 'state', 'headroom', 'logs', 'headroom.log'), 'utf8');
        assert.match(log, /Headroom moved its data from/, 'the log keeps the line');
    });

    test('search from the keyboard: Ctrl+K, the words marked, arrows and Enter open the chat', async () => {
        await page.keyboard.press('Control+k');
        assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Search chats');
        await page.keyboard.type('harb pass');
        await page.getByTestId('search-hit').first().waitFor();
        const hits = page.getByTestId('search-hit');
        assert.equal(await hits.count(), 2, 'the question and the answer');
        assert.deepEqual((await hits.first().locator('mark').allTextContents()).sort(), ['harbor', 'passcode']);
        await page.screenshot({ path: path.join(results, 'chat-search.png') });
        await page.keyboard.press('ArrowDown');
        assert.equal(await page.locator('[role="option"][aria-selected="true"]').count(), 1);
        await page.keyboard.press('Enter');
        await page.locator('.chat-title').filter({ hasText: 'Harbor codes' }).waitFor();
        assert.equal(await page.getByTestId('chat-search').inputValue(), '', 'opening a result clears the search');
        await page.keyboard.press('Control+k');
        await page.keyboard.type('nothing-like-this');
        await page.getByText('Nothing found.').waitFor();
        await page.keyboard.press('Escape');
        assert.ok(await page.getByRole('list', { name: 'Chats' }).isVisible(), 'Esc brings the chat list back');
    });

    test('the chat\'s own settings: a system prompt and sampling over the model\'s defaults, refused in words when out of range', async () => {
        await page.getByTestId('chat-settings-toggle').click();
        const prompt = page.getByTestId('system-prompt');
        await prompt.waitFor();
        assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'system-prompt', 'the prompt box has the focus');
        assert.equal(await page.getByTestId('sampling-temperature').getAttribute('placeholder'), '0', 'an empty box shows the default');
        await prompt.fill('Answer with the passcode only.');
        await page.keyboard.press('Tab');
        await page.keyboard.type('0.7');
        await page.keyboard.press('Enter');
        await page.getByTestId('chat-settings-toggle').filter({ hasText: '· 2' }).waitFor();
        const temperature = page.getByTestId('sampling-temperature');
        await temperature.locator('xpath=..').getByText('this chat\'s').waitFor();
        await page.getByTestId('sampling-topK').fill('2.5');
        await page.getByTestId('sampling-topK').press('Enter');
        assert.equal(await page.getByTestId('chat-settings-error').textContent(), 'Top-k must be a whole number.');
        assert.equal(await page.getByTestId('sampling-topK').inputValue(), '', 'the refused value goes back to the kept one');
        await page.screenshot({ path: path.join(results, 'chat-settings.png') });
        await page.keyboard.press('Escape');
        await page.getByTestId('chat-settings').waitFor({ state: 'detached' });
        // Saved with the chat: the panel opened again (Ctrl+,) shows them.
        await page.keyboard.press('Control+,');
        await page.getByTestId('chat-settings').waitFor();
        assert.equal(await page.getByTestId('system-prompt').inputValue(), 'Answer with the passcode only.');
        assert.equal(await page.getByTestId('sampling-temperature').inputValue(), '0.7');
        await page.keyboard.press('Escape');
    });

    test('the chat exported as Markdown', async () => {
        const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('chat-export').click()]);
        assert.equal(download.suggestedFilename(), 'Harbor codes.md');
        const markdown = await readFile(await download.path(), 'utf8');
        assert.match(markdown, /^# Harbor codes\n/);
        assert.match(markdown, /- Sampling: temperature 0\.7, top-p 0\.95 \(model default\)/);
        assert.match(markdown, /> Answer with the passcode only\./);
        assert.match(markdown, /## Headroom\n\nThe golden harbor passcode is 4417\./);
    });

    test('Settings says where each kind of data lives; a browser shows the path and opens nothing', async () => {
        const locations = page.getByTestId('data-locations');
        await locations.scrollIntoViewIfNeeded();
        assert.equal(await page.getByTestId('data-chats').locator('code').textContent(), path.join(home, '.local', 'share', 'headroom', 'headroom.sqlite'));
        assert.equal(await page.getByTestId('data-snapshots').locator('code').textContent(), path.join(home, '.cache', 'headroom', 'snapshots'));
        assert.equal(await page.getByTestId('data-logs').locator('code').textContent(), path.join(home, '.local', 'state', 'headroom', 'logs'));
        assert.equal(await locations.getByRole('button').count(), 0, 'no Open folder in a browser');
        assert.match(await locations.textContent() ?? '', /Headroom moved its data from/);
        await locations.screenshot({ path: path.join(results, 'data-locations.png') });
    });
});
