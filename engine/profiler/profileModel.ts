// Profiling one model file, as `npm run profile` and the app's "Profile heads" both do: hash
// the file, reuse the stored profile unless forced, score every KV head, pick the recommended
// budget, and store the profile where model loads look it up (by the file's sha256).
import * as fs from 'node:fs/promises';
import { HeadroomError } from '../../common/errors.ts';
import type { HeadProfile } from '../../common/kv/policy.ts';
import { buildSupportsHeadwise } from '../kv/native.ts';
import { modelSha256, profilePathFor, readProfile, writeProfile } from '../kv/profiles.ts';
import { runtime } from '../runtime.ts';
import { DEFAULT_BUDGETS, profileHeads, type AblationMethod } from './headProfiler.ts';
import { checkGgufFile } from '../../common/ggufHeader.ts';

export interface ProfileModelOptions {
    modelPath: string;
    /** Where to write the profile; the profile folder (found by sha256) by default. */
    out?: string;
    /** Measure again even when a profile for this file is stored. */
    force?: boolean;
    /** 'streaming' with our llama.cpp build, 'eviction' (an emulation) with the stock one. */
    method?: AblationMethod;
    prompts?: number;
    tokens?: number;
    seed?: number;
    sinks?: number;
    window?: number;
    budgets?: number[];
    log?: (line: string) => void;
    progress?: (done: number, total: number) => void;
}

export interface ProfileModelResult {
    path: string;
    profile: HeadProfile;
    /** True when a stored profile was reused instead of measuring. */
    reused: boolean;
}

export async function profileModel(options: ProfileModelOptions): Promise<ProfileModelResult> {
    const log = options.log ?? (() => {});
    const { prompts = 8, tokens = 1024, seed = 1, sinks = 4, window = 64, budgets = DEFAULT_BUDGETS } = options;
    if (![prompts, tokens, seed, sinks, window].every(Number.isInteger) || prompts < 1 || tokens < 128 || window < 1 || sinks < 0) {
        throw new HeadroomError('BAD_REQUEST', 'prompts, tokens (≥ 128), seed, sinks and window must be whole numbers.');
    }
    if (budgets.some((b) => !(b > 0 && b <= 1))) throw new HeadroomError('BAD_REQUEST', 'Budgets must be fractions in (0, 1].');
    await checkGgufFile(fs, options.modelPath);
    log(`hashing ${options.modelPath}…`);
    const sha256 = await modelSha256(options.modelPath);
    const path = options.out ?? profilePathFor(sha256);
    if (!options.force) {
        const existing = await readProfile(path);
        if (existing != null && existing.modelSha256 === sha256) {
            log(`reusing the profile at ${path}`);
            return { path, profile: existing, reused: true };
        }
    }
    // Streaming heads for real when our llama.cpp build is there (faithful, and as fast on
    // organism); the stock build can only emulate them by editing a saved KV state.
    const method = options.method ?? (buildSupportsHeadwise((await runtime.get()).llama.systemInfo) ? 'streaming' : 'eviction');
    if (method !== 'eviction' && method !== 'streaming') throw new HeadroomError('BAD_REQUEST', 'The method is eviction (stock llama.cpp) or streaming (the head-level KV engine).');
    log(`method ${method}`);
    const { profile } = await profileHeads({
        modelPath: options.modelPath, sha256, method, prompts, promptTokens: tokens, seed, sinks, window, budgets, log, progress: options.progress,
    });
    await writeProfile(profile, path);
    return { path, profile, reused: false };
}
