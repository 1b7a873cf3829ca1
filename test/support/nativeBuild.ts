// Whether our patched llama.cpp is built (npm run build:native). Without it the head-level
// KV tests are skipped with a reason, except where HEADROOM_REQUIRE_NATIVE=1 (CI builds it).
import { runProbe } from './kvProbe.ts';
import { STORIES } from './models.ts';

export async function nativeBuildStatus(): Promise<{ headwise: boolean; stock: boolean; skip: string | false }> {
    const probe = (build: 'stock' | 'headwise') => runProbe({ build, model: STORIES, contextSize: 64, prompt: 'Once', generate: 1 })
        .then((r) => r.headwise);
    const [headwise, stock] = await Promise.all([probe('headwise'), probe('stock')]);
    const required = process.env.HEADROOM_REQUIRE_NATIVE === '1';
    const skip = headwise || required ? false : 'the head-level KV build is missing: run `npm run build:native`';
    return { headwise, stock, skip };
}
