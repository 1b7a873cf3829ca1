// Regenerates docs/models-view.png from the real app in web mode: the Models view as a new
// user meets it, with a model LM Studio already has, one downloading from a URL (a loopback
// server paced like a slow connection), and the catalog's verdicts for this machine.
//   node test/tools/modelsScreenshot.ts
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../support/browser.ts';
import { startModelServer } from '../support/modelServer.ts';
import { ORGANISM, STORIES } from '../support/models.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const out = path.join(root, 'docs', 'models-view.png');
const home = await mkdtemp(path.join(os.tmpdir(), 'headroom-shots-home-'));
const lmStudio = path.join(home, '.lmstudio', 'models', 'TheBloke', 'Stories-GGUF');
await mkdir(lmStudio, { recursive: true });
await copyFile(STORIES, path.join(lmStudio, 'stories260K.gguf'));

const files = await startModelServer();
files.route('/models/organism.gguf', { file: ORGANISM });
files.setPace(150_000);

const env = { ...process.env, HOME: home, XDG_DATA_HOME: '', XDG_CACHE_HOME: '', HF_HOME: '', OLLAMA_MODELS: '' };
const server = spawn(process.execPath, ['server/serve.ts', '--port', '0', '--data-dir', path.join(home, 'data')], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise<string>((resolve) => {
    server.stdout.on('data', (chunk: Buffer) => {
        const address = /running at (\S+)/.exec(chunk.toString())?.[1];
        if (address != null) resolve(address);
    });
});

const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1440, height: 1000 }, deviceScaleFactor: 1 });
await page.goto(url);
await page.getByTestId('engine-status').filter({ hasText: 'No model loaded' }).waitFor({ timeout: 60_000 });
await page.getByRole('button', { name: 'Models…' }).click();
await page.getByTestId('catalog-entry').last().getByTestId('verdict').waitFor({ timeout: 60_000 });
await page.getByLabel('Model address').fill(files.url('/models/organism.gguf'));
await page.keyboard.press('Enter');
await page.getByTestId('download-status').filter({ hasText: /s left$/ }).waitFor({ timeout: 30_000 });
await page.waitForTimeout(3000);
await page.locator('body').click({ position: { x: 700, y: 990 } });
await page.screenshot({ path: out });
await browser.close();
server.kill('SIGTERM');
await files.close();
console.log(`wrote ${out}`);
