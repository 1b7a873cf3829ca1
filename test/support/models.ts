// The models tests run on: the real ones committed under fixtures/, and random-weight ones
// generated on first use (cached between runs) from a real tokenizer.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cachedRandomGguf, LLAMA3_CHAT_TEMPLATE } from './randomGguf.ts';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
export const STORIES = path.join(fixtures, 'stories260K.gguf');
export const ORGANISM = path.join(fixtures, 'organism.gguf');

/**
 * A random-weight model with Llama 3's tokenizer and chat template. It never emits an
 * end-of-turn on purpose, so a reply streams until stopped: what stop tests need.
 */
export function chatModelForTests(): Promise<string> {
    return cachedRandomGguf('random-llama3-chat-v1.gguf', {
        architecture: 'llama', vocab: 'llama-bpe',
        nLayer: 2, nEmbd: 128, nHead: 4, nHeadKv: 2, nFf: 256,
        contextLength: 4096,
        chatTemplate: LLAMA3_CHAT_TEMPLATE,
        tensorType: 'f16',
        seed: 7,
        name: 'Random Llama 3 (test)',
    });
}

/** 80 layers × 8 KV heads with tiny weights: a deep model for head maps and memory plans. */
export function deepModelForTests(): Promise<string> {
    return cachedRandomGguf('random-80-layers-v1.gguf', {
        architecture: 'llama', vocab: 'llama-spm',
        nLayer: 80, nEmbd: 64, nHead: 8, nHeadKv: 8, nFf: 128, contextLength: 32768,
        tensorType: 'f16', seed: 3, name: 'Random 80-layer (test)',
    });
}
