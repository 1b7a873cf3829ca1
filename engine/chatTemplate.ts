// A model file's chat template is a program (Jinja) that node-llama-cpp runs in the engine host's
// own thread, first when a chat session picks its chat wrapper and then on every turn. A template
// that loops (`{% for i in range(100000000) %}`) would hold the engine for good and take it to
// gigabytes of heap, to die as if it had run out of memory for the context. So before a model is
// loaded, its template renders node-llama-cpp's own sanity-test conversations once, in a process
// of its own with a time and a memory limit: a template that finishes is the template
// node-llama-cpp will run; one that does not is refused, in words that say it is the file's
// template. A process, not a worker thread: a worker that runs out of its heap can take the
// whole process down with it (V8's "Reached heap limit" is fatal when one allocation overshoots).
// Where no Node can be started (the packaged app's engine host runs in Electron, whose fuses
// forbid running it as Node), a worker thread with the same limits is the fallback.
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { HeadroomError } from '../common/errors.ts';
export interface TemplateCheckLimits {
    timeMs: number;
    memoryMb: number;
}

/** Real templates render these conversations in milliseconds; loading the renderer takes about 0.1 s. */
export const TEMPLATE_CHECK_LIMITS: TemplateCheckLimits = { timeMs: 10_000, memoryMb: 256 };

// The check as a script of its own (a -e script for a Node process, an eval'd worker), so it needs
// no file in the app's bundle: it imports node-llama-cpp's Jinja chat wrapper by the URL the engine
// host resolves (the package's index as a fallback), renders, and says so.
const CHECK_SOURCE = `
const check = async ({ template, wrapperUrl, indexUrl }) => {
    let wrappers;
    try {
        wrappers = await import(wrapperUrl);
    } catch {
        wrappers = await import(indexUrl);
    }
    try {
        // The constructor renders node-llama-cpp's sanity-test conversations with the template.
        new wrappers.JinjaTemplateChatWrapper({ template });
        return { type: 'rendered' };
    } catch (error) {
        // A template that fails is node-llama-cpp's to handle (it falls back to another wrapper): only time and memory matter here.
        return { type: 'failed', message: String(error && error.message || error) };
    }
};
const threads = require('node:worker_threads');
if (threads.isMainThread) process.once('message', (job) => check(job).then((answer) => process.send(answer, () => process.exit(0))));
else check(threads.workerData).then((answer) => threads.parentPort.postMessage(answer));
`;

const verdicts = new Map<string, Promise<void>>();

function rendererUrls(): { indexUrl: string; wrapperUrl: string } {
    const indexUrl = import.meta.resolve('node-llama-cpp');
    return { indexUrl, wrapperUrl: new URL('./chatWrappers/generic/JinjaTemplateChatWrapper.js', indexUrl).href };
}

function refusal(fileName: string, why: string): HeadroomError {
    return new HeadroomError('MODEL_LOAD_FAILED', `Could not load ${fileName}: the model file's chat template (tokenizer.chat_template) ${why}. The template is part of the file, so the file is damaged or was made to do this; use another copy of the model, or another model.`);
}

const tooLong = (fileName: string, limits: TemplateCheckLimits) =>
    refusal(fileName, `did not finish rendering a short conversation in ${Math.round(limits.timeMs / 1000)} s: it loops, or does far more work than a chat template does`);
const tooBig = (fileName: string, limits: TemplateCheckLimits) =>
    refusal(fileName, `needed more than ${limits.memoryMb} MB of memory to render a short conversation, far more than a chat template needs`);
const unchecked = (fileName: string, why: string) => new HeadroomError('MODEL_LOAD_FAILED', `Could not load ${fileName}: its chat template could not be checked (${why}).`);

/** Whether this process can start Node (not so in Electron, whose packaged fuses forbid running it as Node). */
const canStartNode = () => process.versions.electron == null;

/** Renders in a Node process of its own: running out of memory or time ends that process only. */
function renderInProcess(job: Record<string, string>, fileName: string, limits: TemplateCheckLimits): Promise<void> {
    const child = spawn(process.execPath, [`--max-old-space-size=${limits.memoryMb}`, '-e', CHECK_SOURCE], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString('utf8')).slice(-4096);
    });
    return settledOnce(fileName, limits, () => child.kill('SIGKILL'), (end, resolve, reject) => {
        child.on('message', () => end(resolve));
        child.on('error', (error) => end(() => reject(unchecked(fileName, error.message))));
        child.on('exit', () => end(() => reject(/heap out of memory|Reached heap limit|Allocation failed/i.test(stderr) ? tooBig(fileName, limits) : unchecked(fileName, 'the check stopped'))));
        child.send(job);
    });
}

/** What a check ends with: the first outcome wins, the time limit is an outcome, and `stop` ends the check after it. */
function settledOnce(
    fileName: string, limits: TemplateCheckLimits, stop: () => void,
    listen: (end: (outcome: () => void) => void, resolve: () => void, reject: (error: Error) => void) => void,
): Promise<void> {
    return new Promise<void>((resolve, reject) => {
        let settled = false;
        const end = (outcome: () => void) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            outcome();
            stop();
        };
        const timer = setTimeout(() => end(() => reject(tooLong(fileName, limits))), limits.timeMs);
        listen(end, resolve, reject);
    });
}

/** Renders in a worker thread with resource limits: where no Node process can be started. */
function renderInWorker(job: Record<string, string>, fileName: string, limits: TemplateCheckLimits): Promise<void> {
    const worker = new Worker(CHECK_SOURCE, {
        eval: true,
        workerData: job,
        resourceLimits: { maxOldGenerationSizeMb: limits.memoryMb, maxYoungGenerationSizeMb: Math.min(32, limits.memoryMb), stackSizeMb: 4 },
        stdout: true,
        stderr: true,
    });
    return settledOnce(fileName, limits, () => void worker.terminate(), (end, resolve, reject) => {
        worker.on('message', () => end(resolve));
        worker.on('error', (error: NodeJS.ErrnoException) => end(() => reject(error.code === 'ERR_WORKER_OUT_OF_MEMORY' ? tooBig(fileName, limits) : unchecked(fileName, error.message))));
        worker.on('exit', () => end(() => reject(unchecked(fileName, 'the check stopped'))));
    });
}

function render(template: string, fileName: string, limits: TemplateCheckLimits): Promise<void> {
    const job = { template, ...rendererUrls() };
    return canStartNode() ? renderInProcess(job, fileName, limits) : renderInWorker(job, fileName, limits);
}

/**
 * Refuses a chat template that does not render node-llama-cpp's sanity-test conversations within
 * `limits`; a template that renders (or fails quickly, which node-llama-cpp handles) passes. Each
 * distinct template is checked once per engine host.
 */
export function checkChatTemplate(template: string, fileName: string, limits: TemplateCheckLimits = TEMPLATE_CHECK_LIMITS): Promise<void> {
    const key = `${createHash('sha256').update(template).digest('hex')}|${limits.timeMs}|${limits.memoryMb}`;
    let verdict = verdicts.get(key);
    if (verdict == null) {
        verdict = render(template, fileName, limits);
        verdicts.set(key, verdict);
        // A refusal is remembered only for this file's name in its words: check again next time.
        verdict.catch(() => verdicts.delete(key));
    }
    return verdict;
}
