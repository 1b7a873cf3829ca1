// Where head profiles live, and the one way a profile is found and read. The profiler stores
// one JSON per model file, named by the file's sha256, in the app's profile folder
// (HEADROOM_PROFILE_DIR overrides it); Headroom ships DuoAttention's for some popular models
// (shippedProfiles.ts). A load, a plan and the benchmarks find them the same way.
import { mkdir, readFile, writeFile, rename, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { HeadroomError } from '../../common/errors.ts';
import { HeadProfile, profileFits, type FoundProfile } from '../../common/kv/policy.ts';
import { attentionFromMetadata, type KvShape } from '../../common/modelShape.ts';
import { dataPaths } from '../../common/paths.ts';
import { modelSha256 } from '../modelHash.ts';
import { shippedProfileFor } from './shippedProfiles.ts';

// A model file's sha256 is read once per file version and kept on disk (engine/modelHash.ts).
export { modelSha256, sha256OfFile } from '../modelHash.ts';

/** Headroom's head profiles folder (common/paths.ts decides it; HEADROOM_PROFILE_DIR moves it). */
export function profileDir(): string {
    return dataPaths({ home: os.homedir(), env: process.env, platform: process.platform }).profiles;
}

export function profilePathFor(sha256: string): string {
    return path.join(profileDir(), `${sha256}.json`);
}

/** The profile in a file; null when there is no such file, refused when it is not a profile. */
export async function readProfile(filePath: string): Promise<HeadProfile | null> {
    let raw: string;
    try {
        raw = await readFile(filePath, 'utf8');
    } catch {
        return null;
    }
    let json: unknown;
    try {
        json = JSON.parse(raw);
    } catch {
        throw new HeadroomError('BAD_REQUEST', `${filePath} is not JSON.`);
    }
    const parsed = HeadProfile.safeParse(json);
    if (!parsed.success) throw new HeadroomError('BAD_REQUEST', `${filePath} is not a head profile: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`);
    return parsed.data;
}

export async function writeProfile(profile: HeadProfile, filePath: string): Promise<void> {
    await mkdir(path.dirname(filePath), { recursive: true });
    // Written then renamed, so a reader never sees half a profile.
    const temporary = `${filePath}.${process.pid}.tmp`;
    await writeFile(temporary, `${JSON.stringify(HeadProfile.parse(profile), null, 2)}\n`);
    await rename(temporary, filePath);
}

/** The profile the profiler stored for this model file, or null when there is none (or it is unreadable). */
async function storedProfileFor(modelPath: string): Promise<FoundProfile | null> {
    const sha256 = await modelSha256(modelPath);
    const filePath = profilePathFor(sha256);
    const profile = await readProfile(filePath).catch(() => null);
    return profile == null || profile.modelSha256 !== sha256 ? null : { profile, path: filePath, origin: 'stored' };
}

export const noProfile = (modelPath: string, filePath: string) =>
    new HeadroomError('NOT_FOUND', `No head profile for ${path.basename(modelPath)} at ${filePath}; run \`npm run profile -- --model ${modelPath}\`.`);

/** Refuses a profile measured on a model of another shape. */
export function checkProfileShape(found: FoundProfile, shape: Pick<KvShape, 'layers' | 'kvHeads'>): FoundProfile {
    const { profile } = found;
    if (!profileFits(profile, shape)) {
        throw new HeadroomError('BAD_REQUEST', `The head profile ${found.path} is for a model with ${profile.layers} layers × ${profile.kvHeads} KV heads; this one has ${shape.layers} × ${shape.kvHeads}.`);
    }
    return found;
}

/** The file a load's head profile would be read from, and when it was written (null: none); a re-profiled model is a new load. */
export async function profileStamp(modelPath: string, explicit?: string): Promise<string | null> {
    const file = explicit ?? profilePathFor(await modelSha256(modelPath));
    const info = await stat(file).catch(() => null);
    return info == null ? null : `${file}:${info.mtimeMs}`;
}

/**
 * The head profile for a model file: the `explicit` file when one is named (refused when it is
 * missing, unreadable or, given the model's shape, for another shape), else the one the profiler
 * stored for this file (ignored when unreadable or for another shape), else, given the file's
 * GGUF metadata, one shipped for its model and shape, else null.
 */
export async function findProfile(modelPath: string, options: {
    explicit?: string | undefined; shape?: Pick<KvShape, 'layers' | 'kvHeads'>; metadata?: Record<string, unknown>;
} = {}): Promise<FoundProfile | null> {
    const { explicit, shape, metadata } = options;
    if (explicit != null) {
        const profile = await readProfile(explicit);
        if (profile == null) throw noProfile(modelPath, explicit);
        const found: FoundProfile = { profile, path: explicit, origin: 'file' };
        return shape == null ? found : checkProfileShape(found, shape);
    }
    const stored = await storedProfileFor(modelPath);
    if (stored != null && (shape == null || profileFits(stored.profile, shape))) return stored;
    if (metadata == null) return null;
    const attention = attentionFromMetadata(metadata);
    return shippedProfileFor(await modelSha256(modelPath), metadata.general as Record<string, unknown> | undefined, attention);
}

/** findProfile, refused when there is none: what a run needs whose point is the profile's heads. */
export async function requireProfile(modelPath: string, explicit?: string): Promise<FoundProfile> {
    const found = await findProfile(modelPath, { explicit });
    if (found != null) return found;
    throw noProfile(modelPath, profilePathFor(await modelSha256(modelPath)));
}
