// The app as an end-to-end test opens it: `npm run serve` with the given arguments, Debian's
// Chromium on its page, waited for until the engine is ready.
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './browser.ts';
import { serve, stop, type Served } from './serve.ts';

/** Where end-to-end tests leave their screenshots. */
export const results = fileURLToPath(new URL('../../test-results/', import.meta.url));

export interface OpenApp {
    served: Served;
    browser: Browser;
    page: Page;
    close: () => Promise<void>;
}

export async function openApp(
    args: string[], env: Record<string, string> = {}, viewport = { width: 1440, height: 900 }, page_: { acceptDownloads?: boolean } = {},
): Promise<OpenApp> {
    const served = await serve(args, env);
    const browser = await launchChromium();
    const page = await browser.newPage({ viewport, ...page_ });
    await mkdir(results, { recursive: true });
    await page.goto(served.url);
    await page.getByTestId('engine-status').filter({ hasText: 'Ready' }).waitFor({ timeout: 60_000 });
    return {
        served, browser, page,
        async close() {
            await browser.close();
            await stop(served.child);
        },
    };
}
