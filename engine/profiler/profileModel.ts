// Profiling one model file, as `npm run profile` and the app's "Profile heads" both do: hash
// the file, reuse the stored profile unless forced, score every KV head, validate the budget,
// and store the profile where model loads look it up (by the file's sha256).
//
// Both methods need Headroom's llama.cpp: the attention probe and real streaming heads live in
// its head-level cache. The stock build once had an emulation (streaming heads faked by copying
// sink cells over the far ones in a saved KV state); it was removed because it does not mask:
// every copied sink is attended once per copy, so each sink's weight grew about n_far / n_sinks
// times (about 230x at 1K tokens) where a streaming head would drop the far tokens, and it could
// not stream during the prompt at all. On the stock build profiling refuses, saying what to do.
import * as fs from 'node:fs/promises';
import { checkGgufFile } from '../../common/ggufHeader.ts';
import { HeadroomError, PROFILING_NEEDS_ENGINE, profilingNeedsBuild } from '../../common/errors.ts';
import type { HeadProfile, ProfileMethod } from '../../common/kv/policy.ts';
import { buildSupportsHeadwise } from '../kv/native.ts';
import { modelSha256, profilePathFor, readProfile, writeProfile } from '../kv/profiles.ts';
import { isPackagedApp, runtime } from '../runtime.ts';
import { DEFAULTS, profileHeads, type ProfileProgress, type ProfileRun } from './headProfiler.ts';

export interface ProfileModelOptions {
    modelPath: string;
    /** Where to write the profile; the profile folder (found by sha256) by default. */
    out?: string;
    /** Measure again even when a profile for this file is stored. */
    force?: boolean;
    method?: ProfileMethod;
    prompts?: number;
    tokens?: number;
    seed?: number;
    sinks?: number;
    window?: number;
    /** The context length the user runs, where plans are validated. */
    contextTokens?: number;
    validationPrompts?: number;
    log?: (line: string) => void;
    progress?: (progress: ProfileProgress) => void;
}

export interface ProfileModelResult {
    path: string;
    profile: HeadProfile;
    /** True when a stored profile was reused instead of measuring. */
    reused: boolean;
    /** The run's timings; null when a stored profile was reused. */
    run: ProfileRun | null;
}

/** Refuses profiling where the loaded llama.cpp cannot do it, saying what to do. */
export async function requireProfilingBuild(): Promise<void> {
    const { llama, build } = await runtime.get();
    if (buildSupportsHeadwise(llama.systemInfo)) return;
    throw new HeadroomError('NOT_AVAILABLE', build.requested === 'stock' ? PROFILING_NEEDS_ENGINE : profilingNeedsBuild(isPackagedApp()));
}

export async function profileModel(options: ProfileModelOptions): Promise<ProfileModelResult> {
    const log = options.log ?? (() => {});
    const { method = DEFAULTS.method, prompts = DEFAULTS.prompts, tokens = DEFAULTS.tokens, seed = DEFAULTS.seed, sinks = DEFAULTS.sinks, window = DEFAULTS.window } = options;
    const validationPrompts = options.validationPrompts ?? DEFAULTS.validationPrompts;
    if (![prompts, tokens, seed, sinks, window, validationPrompts].every(Number.isInteger) || prompts < 1 || validationPrompts < 1 || tokens < 128 || window < 1 || sinks < 0) {
        throw new HeadroomError('BAD_REQUEST', 'prompts, validation prompts, tokens (≥ 128), seed, sinks and window must be whole numbers.');
    }
    if (options.contextTokens != null && !(Number.isInteger(options.contextTokens) && options.contextTokens >= 128)) {
        throw new HeadroomError('BAD_REQUEST', 'The validation context must be a whole number of tokens, at least 128.');
    }
    if (method !== 'attention' && method !== 'ablation') throw new HeadroomError('BAD_REQUEST', 'The method is attention (one pass per prompt) or ablation (leave-one-out, one pass per head).');
    await checkGgufFile(fs, options.modelPath);
    log(`hashing ${options.modelPath}…`);
    const sha256 = await modelSha256(options.modelPath);
    const path = options.out ?? profilePathFor(sha256);
    // Refused now, not after minutes of measuring: something other than a file where the profile goes.
    const target = await fs.lstat(path).catch(() => null);
    if (target != null && !target.isFile()) {
        throw new HeadroomError('BAD_REQUEST', `The head profile cannot be stored at ${path}: ${target.isDirectory() ? 'a folder' : 'something other than a file'} is in its place. Move it away (Headroom does not delete what it did not make), then profile again.`);
    }
    if (!options.force) {
        const existing = await readProfile(path);
        if (existing != null && existing.modelSha256 === sha256) {
            log(`reusing the profile at ${path}`);
            return { path, profile: existing, reused: true, run: null };
        }
    }
    await requireProfilingBuild();
    log(`method ${method}`);
    const run = await profileHeads({
        modelPath: options.modelPath, sha256, method, prompts, promptTokens: tokens, seed, sinks, window, validationPrompts,
        ...(options.contextTokens != null ? { contextTokens: options.contextTokens } : {}),
        log, ...(options.progress != null ? { progress: options.progress } : {}),
    });
    await writeProfile(run.profile, path);
    return { path, profile: run.profile, reused: false, run };
}
