// A model file's chat template is a program (Jinja) that node-llama-cpp runs in the engine host's
// own thread, first when a chat session picks its chat wrapper and then on every turn. A template
// that loops (`{% for i in range(100000000) %}`) would hold the engine for good and take it to
// gigabytes of heap, to die as if it had run out of memory for the context. So before a model is
// loaded, its template renders node-llama-cpp's own sanity-test conversations once in a worker
// thread with a time and a memory limit: a template that finishes is the template node-llama-cpp
// will run; one that does not is refused, in words that say it is the file's template.
import { Worker } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { HeadroomError } from '../common/errors.ts';

export interface TemplateCheckLimits {
    timeMs: number;
    memoryMb: number;
}

/** Real templates render these conversations in milliseconds; loading the renderer takes about 0.1 s. */
export const TEMPLATE_CHECK_LIMITS: TemplateCheckLimits = { timeMs: 10_000, memoryMb: 256 };

// The worker is an eval'd script, so it needs no file of its own in the app's bundle: it imports
// node-llama-cpp's Jinja chat wrapper by the URL the engine host resolves (its index as a fallback).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
    let wrappers;
    try {
        wrappers = await import(workerData.wrapperUrl);
    } catch {
        wrappers = await import(workerData.indexUrl);
    }
    try {
        // The constructor renders node-llama-cpp's sanity-test conversations with the template.
        new wrappers.JinjaTemplateChatWrapper({ template: workerData.template });
        parentPort.postMessage({ type: 'rendered' });
    } catch (error) {
        // A template that fails is node-llama-cpp's to handle (it falls back to another wrapper): only time and memory matter here.
        parentPort.postMessage({ type: 'failed', message: String(error && error.message || error) });
    }
})();
`;

const verdicts = new Map<string, Promise<void>>();

function rendererUrls(): { indexUrl: string; wrapperUrl: string } {
    const indexUrl = import.meta.resolve('node-llama-cpp');
    return { indexUrl, wrapperUrl: new URL('./chatWrappers/generic/JinjaTemplateChatWrapper.js', indexUrl).href };
}

function refusal(fileName: string, why: string): HeadroomError {
    return new HeadroomError('MODEL_LOAD_FAILED', `Could not load ${fileName}: the model file's chat template (tokenizer.chat_template) ${why}. The template is part of the file, so the file is damaged or was made to do this; use another copy of the model, or another model.`);
}

async function render(template: string, fileName: string, limits: TemplateCheckLimits): Promise<void> {
    const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { template, ...rendererUrls() },
        resourceLimits: { maxOldGenerationSizeMb: limits.memoryMb, maxYoungGenerationSizeMb: Math.min(32, limits.memoryMb), stackSizeMb: 4 },
        stdout: true,
        stderr: true,
    });
    await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
            reject(refusal(fileName, `did not finish rendering a short conversation in ${Math.round(limits.timeMs / 1000)} s: it loops, or does far more work than a chat template does`));
            void worker.terminate();
        }, limits.timeMs);
        const end = (outcome: () => void) => {
            clearTimeout(timer);
            outcome();
            void worker.terminate();
        };
        worker.on('message', () => end(resolve));
        worker.on('error', (error: NodeJS.ErrnoException) => end(() => {
            if (error.code === 'ERR_WORKER_OUT_OF_MEMORY') {
                reject(refusal(fileName, `needed more than ${limits.memoryMb} MB of memory to render a short conversation, far more than a chat template needs`));
            } else {
                reject(new HeadroomError('MODEL_LOAD_FAILED', `Could not load ${fileName}: its chat template could not be checked (${error.message}).`));
            }
        }));
        worker.on('exit', () => end(() => reject(new HeadroomError('MODEL_LOAD_FAILED', `Could not load ${fileName}: its chat template could not be checked (the check stopped).`))));
    });
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
