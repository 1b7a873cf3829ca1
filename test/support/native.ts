// The one rule for tests that need our patched llama.cpp (npm run build:native): where it is
// missing they skip and say why, except where HEADROOM_REQUIRE_NATIVE=1 (CI builds it), where
// a missing build fails every file that needs it instead of letting its tests skip.
import { runProbe } from './kvProbe.ts';
import { STORIES } from './models.ts';

const probe = (build: 'stock' | 'headwise') => runProbe({ build, model: STORIES, contextSize: 64, prompt: 'Once', generate: 1 }).then((r) => r.headwise);
const [headwise, stock] = await Promise.all([probe('headwise'), probe('stock')]);

/** What each binary reports: our build has the head-level KV cache, the stock prebuilt one does not. */
export const nativeBuild = { headwise, stock };

if (process.env.HEADROOM_REQUIRE_NATIVE === '1' && !headwise) {
    throw new Error('HEADROOM_REQUIRE_NATIVE=1, but the head-level KV build is missing: run `npm run build:native`. Its tests must not be skipped here.');
}

/** describe() options for tests of head-level KV compression. */
export function requiresNative(): { skip: string | false } {
    return { skip: headwise ? false : 'needs the head-level KV build: run `npm run build:native`' };
}

/**
 * describe() options for tests of our Vulkan build on a Vulkan device (Mesa's llvmpipe stands in for a GPU:
 * llama.cpp uses a CPU-type device only when GGML_VK_VISIBLE_DEVICES names it, so the tests set it).
 * Where HEADROOM_REQUIRE_VULKAN=1 (CI builds it) a missing build or device fails instead of skipping.
 */
export async function requiresVulkan(): Promise<{ skip: string | false }> {
    const reason = await runProbe({ build: 'headwise', gpu: 'vulkan', model: STORIES, contextSize: 64, prompt: 'Once', generate: 1 }, { GGML_VK_VISIBLE_DEVICES: '0' })
        .then((r) => (r.gpu !== 'vulkan' ? 'needs the head-level Vulkan build: run `npm run build:native -- --gpu vulkan`'
            : r.bufferTypes.some((t) => t.startsWith('Vulkan')) ? false : 'needs a Vulkan device (Mesa: apt-get install mesa-vulkan-drivers)'))
        .catch((error: Error) => `the head-level Vulkan build does not run here: ${error.message.split('\n')[0]}`);
    if (reason !== false && process.env.HEADROOM_REQUIRE_VULKAN === '1') {
        throw new Error(`HEADROOM_REQUIRE_VULKAN=1, but ${reason}. Its tests must not be skipped here.`);
    }
    return { skip: reason };
}
