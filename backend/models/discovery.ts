// Finds the GGUF models on this machine: Headroom's folder and the stores of LM Studio, Ollama,
// Jan and the Hugging Face hub cache, each read in its app's own layout. Files are described
// from their headers and listed where they are; nothing is copied or moved.
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { errorMessage } from '../../common/errors.ts';
import { supportsHeadwise, type LocalModel, type LocalModels, type ModelFolder, type ModelOrigin, type ScanNote } from '../../common/models.ts';
import { modelSearchFolders, type MachinePlaces, type ModelSearchFolder } from './folders.ts';
import { describeModelFile, isLaterSplitPart } from './gguf.ts';

/** A model file a folder's layout points at, and the name its app gives it. */
interface Candidate {
    file: string;
    name: string;
    origin: ModelOrigin;
}

/** Deep enough for publisher/repo/file and Jan's org/name/model, shallow enough to stay quick in a stray folder. */
const MAX_DEPTH = 6;

const isGguf = (name: string) => name.toLowerCase().endsWith('.gguf');

async function isDirectory(dir: string): Promise<boolean> {
    return (await stat(dir).catch(() => null))?.isDirectory() ?? false;
}

/** Every .gguf file under a folder (symlinked files followed, hidden folders skipped), relative paths. */
async function ggufFilesUnder(root: string, depth = 0, relative = ''): Promise<string[]> {
    if (depth > MAX_DEPTH) return [];
    const entries = await readdir(path.join(root, relative), { withFileTypes: true }).catch(() => []);
    const found: string[] = [];
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
        if (entry.name.startsWith('.')) continue;
        const child = path.join(relative, entry.name);
        if (entry.isDirectory()) found.push(...await ggufFilesUnder(root, depth + 1, child));
        else if ((entry.isFile() || entry.isSymbolicLink()) && isGguf(entry.name)) found.push(child);
    }
    return found;
}

/** A file's name as a model's: without `.gguf`, and without `-00001-of-00003` for a split model. */
const modelFileName = (file: string) => file.replace(/(-\d{5}-of-\d{5})?\.gguf$/i, '');

/** `publisher/repo/file` without `.gguf`; Jan's `org/name/model.gguf` is just `org/name`. */
function treeName(relative: string): string {
    const parts = relative.split(path.sep);
    const last = modelFileName(parts.pop() ?? '');
    return [...parts, ...(last.toLowerCase() === 'model' && parts.length > 0 ? [] : [last])].join('/');
}

async function treeCandidates(folder: ModelSearchFolder): Promise<Candidate[]> {
    return (await ggufFilesUnder(folder.path)).map((relative) => ({ file: path.join(folder.path, relative), name: treeName(relative), origin: folder.origin }));
}

const OllamaManifest = z.object({
    layers: z.array(z.object({ mediaType: z.string(), digest: z.string().regex(/^sha256:[0-9a-f]{64}$/) })),
});
const OLLAMA_MODEL_LAYER = 'application/vnd.ollama.image.model';
const OLLAMA_REGISTRY = 'registry.ollama.ai';

/** Ollama's name for a manifest at manifests/<host>/<namespace>/<model>/<tag>: `model:tag` for its own library. */
function ollamaName(host: string, namespace: string, model: string, tag: string): string {
    if (host === OLLAMA_REGISTRY) return `${namespace === 'library' ? '' : `${namespace}/`}${model}:${tag}`;
    return `${host}/${namespace}/${model}:${tag}`;
}

/** Follows each manifest to its model layer's blob: manifests/<host>/<ns>/<model>/<tag> → blobs/sha256-<hex>. */
async function ollamaCandidates(folder: ModelSearchFolder, notes: ScanNote[]): Promise<Candidate[]> {
    const manifests = path.join(folder.path, 'manifests');
    const list = async (dir: string) => (await readdir(dir, { withFileTypes: true }).catch(() => [])).sort((a, b) => a.name.localeCompare(b.name));
    const candidates: Candidate[] = [];
    for (const host of await list(manifests)) {
        if (!host.isDirectory()) continue;
        for (const namespace of await list(path.join(manifests, host.name))) {
            if (!namespace.isDirectory()) continue;
            for (const model of await list(path.join(manifests, host.name, namespace.name))) {
                if (!model.isDirectory()) continue;
                for (const tag of await list(path.join(manifests, host.name, namespace.name, model.name))) {
                    if (!tag.isFile()) continue;
                    const manifestPath = path.join(manifests, host.name, namespace.name, model.name, tag.name);
                    const name = ollamaName(host.name, namespace.name, model.name, tag.name);
                    const skip = (why: string) => notes.push({ path: manifestPath, message: `Skipped Ollama model ${name}: ${why}.` });
                    let manifest: z.infer<typeof OllamaManifest>;
                    try {
                        const parsed = OllamaManifest.safeParse(JSON.parse(await readFile(manifestPath, 'utf8')));
                        if (!parsed.success) {
                            skip('its manifest is not in Ollama\'s format');
                            continue;
                        }
                        manifest = parsed.data;
                    } catch (error) {
                        skip(`its manifest cannot be read (${errorMessage(error)})`);
                        continue;
                    }
                    const layer = manifest.layers.find((l) => l.mediaType === OLLAMA_MODEL_LAYER);
                    if (layer == null) {
                        skip('its manifest has no model layer');
                        continue;
                    }
                    const blob = path.join(folder.path, 'blobs', layer.digest.replace(':', '-'));
                    if (!(await stat(blob).catch(() => null))?.isFile()) {
                        skip(`its model blob ${path.basename(blob)} is missing`);
                        continue;
                    }
                    candidates.push({ file: blob, name, origin: folder.origin });
                }
            }
        }
    }
    return candidates;
}

/** hub/models--<org>--<repo>/snapshots/<revision>/<file>.gguf, symlinks into the repo's blobs. */
async function huggingFaceCandidates(folder: ModelSearchFolder): Promise<Candidate[]> {
    const candidates: Candidate[] = [];
    const repos = (await readdir(folder.path, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory() && e.name.startsWith('models--'));
    for (const repo of repos.sort((a, b) => a.name.localeCompare(b.name))) {
        const repoName = repo.name.slice('models--'.length).split('--').join('/');
        const snapshots = path.join(folder.path, repo.name, 'snapshots');
        for (const revision of (await readdir(snapshots, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory())) {
            const root = path.join(snapshots, revision.name);
            for (const relative of await ggufFilesUnder(root)) {
                candidates.push({ file: path.join(root, relative), name: `${repoName}/${modelFileName(relative.split(path.sep).join('/'))}`, origin: folder.origin });
            }
        }
    }
    return candidates;
}

export interface ScanOptions {
    places: MachinePlaces;
    /** Headroom's models folder (the settings' or the default). */
    headroomFolder: string;
    /** Files not to list, such as a download still being verified. */
    exclude?: (file: string) => boolean;
}

/** Every model on this machine that a folder's layout points at, with notes on what was skipped. */
export async function scanModels({ places, headroomFolder, exclude }: ScanOptions): Promise<LocalModels> {
    const notes: ScanNote[] = [];
    const folders: ModelFolder[] = [];
    const candidates: Candidate[] = [];
    for (const folder of modelSearchFolders(places, headroomFolder)) {
        const exists = await isDirectory(folder.path);
        folders.push({ origin: folder.origin, path: folder.path, exists });
        if (!exists) continue;
        if (folder.layout === 'ollama') candidates.push(...await ollamaCandidates(folder, notes));
        else if (folder.layout === 'huggingface') candidates.push(...await huggingFaceCandidates(folder));
        else candidates.push(...await treeCandidates(folder));
    }

    const models: LocalModel[] = [];
    // One entry per file on disk, as the first folder (Headroom's own first) names it.
    const seen = new Set<string>();
    for (const candidate of candidates) {
        if (isLaterSplitPart(candidate.file) || exclude?.(candidate.file)) continue;
        const real = await realpath(candidate.file).catch(() => null);
        if (real == null) {
            notes.push({ path: candidate.file, message: `Skipped ${candidate.name}: the file it points to is missing.` });
            continue;
        }
        if (seen.has(real)) continue;
        seen.add(real);
        try {
            const { header, sizeBytes, parts, modifiedAt } = await describeModelFile(candidate.file);
            // Vision projectors (mmproj) sit beside models in LM Studio's folders; they are not models to chat with.
            if (header.architecture === 'clip') continue;
            models.push({
                path: candidate.file, name: candidate.name, origin: candidate.origin, sizeBytes, parts,
                architecture: header.architecture, quantization: header.quantization, trainContextSize: header.trainContextSize,
                headwise: supportsHeadwise(header.architecture), modifiedAt,
            });
        } catch (error) {
            notes.push({ path: candidate.file, message: `Skipped ${candidate.name}: ${errorMessage(error)}.` });
        }
    }
    return { models, notes, folders };
}
