// A home folder with models where each app keeps them, in that app's real layout: Headroom's
// folder, LM Studio (both folders), Ollama's manifests and sha256-named blobs, Jan's llama.cpp
// folder, and the Hugging Face hub cache's snapshots linking into blobs. Plus what goes wrong
// on real machines: a broken manifest, a manifest whose blob is gone, a file that is not a
// GGUF, and the same file reached twice.
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ModelOrigin } from '../../common/models.ts';
import { splitGguf } from './ggufSplit.ts';
import { ORGANISM, STORIES } from './models.ts';
import { type Architecture, cachedRandomGguf } from './randomGguf.ts';

/** A model the home holds, as the Models view should list it. */
export interface ExpectedModel {
    name: string;
    origin: ModelOrigin;
    architecture: string;
    quantization: string;
    trainContextSize: number;
    parts: number;
    /** The file listed (the first part, or Ollama's blob). */
    file: string;
}

export interface ModelStores {
    home: string;
    headroomFolder: string;
    expected: ExpectedModel[];
    /** Paths the scan must skip with a note, and why (a word of the note). */
    broken: { path: string; because: RegExp }[];
}

/** A tiny random-weight model of an architecture, with Llama 2's small tokenizer (cached between runs). */
function tinyModel(architecture: Architecture, contextLength: number): Promise<string> {
    return cachedRandomGguf(`stores-${architecture}-v1.gguf`, {
        architecture, vocab: 'llama-spm', nLayer: 1, nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 128,
        contextLength, tensorType: 'f16', seed: 11, name: `Tiny ${architecture}`, chatTemplate: null,
    });
}

async function place(source: string, target: string): Promise<string> {
    await mkdir(path.dirname(target), { recursive: true });
    await copyFile(source, target);
    return target;
}

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

export async function buildModelStores(): Promise<ModelStores> {
    const home = await mkdtemp(path.join(os.tmpdir(), 'headroom-home-'));
    const expected: ExpectedModel[] = [];
    const broken: ModelStores['broken'] = [];
    // One after another: the first one fetches the shared tokenizer.
    const qwen3 = await tinyModel('qwen3', 40960);
    const gemma3 = await tinyModel('gemma3', 131072);
    const phi3 = await tinyModel('phi3', 131072);
    // an architecture the head-level cache has no tests for: listed as full cache only
    const granite = await tinyModel('granite', 131072);
    const qwen2 = await tinyModel('qwen2', 32768);

    // Headroom's own folder, with a model split in two parts.
    const headroomFolder = path.join(home, '.local', 'share', 'headroom', 'models');
    expected.push({ name: 'organism', origin: 'headroom', architecture: 'llama', quantization: 'F32', trainContextSize: 4096, parts: 1, file: await place(ORGANISM, path.join(headroomFolder, 'organism.gguf')) });
    await mkdir(headroomFolder, { recursive: true });
    const [firstPart] = await splitGguf(qwen3, path.join(headroomFolder, 'tiny-qwen3-split'), 2);
    expected.push({ name: 'tiny-qwen3-split', origin: 'headroom', architecture: 'qwen3', quantization: 'F16', trainContextSize: 40960, parts: 2, file: firstPart ?? '' });

    // LM Studio: models/<publisher>/<repo>/<file>.gguf, in the current folder and the older one.
    const lmstudio = path.join(home, '.lmstudio', 'models');
    expected.push({ name: 'lmstudio-community/Qwen3-Tiny-GGUF/Qwen3-Tiny-F16', origin: 'lmstudio', architecture: 'qwen3', quantization: 'F16', trainContextSize: 40960, parts: 1, file: await place(qwen3, path.join(lmstudio, 'lmstudio-community', 'Qwen3-Tiny-GGUF', 'Qwen3-Tiny-F16.gguf')) });
    expected.push({ name: 'TheBloke/Stories-GGUF/stories260K', origin: 'lmstudio', architecture: 'llama', quantization: 'F32', trainContextSize: 512, parts: 1, file: await place(STORIES, path.join(home, '.cache', 'lm-studio', 'models', 'TheBloke', 'Stories-GGUF', 'stories260K.gguf')) });
    const notGguf = path.join(lmstudio, 'someone', 'Broken-GGUF', 'broken.Q4_K_M.gguf');
    await mkdir(path.dirname(notGguf), { recursive: true });
    await writeFile(notGguf, '<!DOCTYPE html><html><body>Not found</body></html>');
    broken.push({ path: notGguf, because: /not a readable GGUF/ });

    // Ollama: manifests/<host>/<namespace>/<model>/<tag> → the model layer's blobs/sha256-<hex>.
    const ollama = path.join(home, '.ollama', 'models');
    const ollamaModel = async (source: string, manifest: string[], name: string, architecture: string, trainContextSize: number) => {
        const digest = await sha256(source);
        const blob = await place(source, path.join(ollama, 'blobs', `sha256-${digest}`));
        const manifestPath = path.join(ollama, 'manifests', ...manifest);
        await mkdir(path.dirname(manifestPath), { recursive: true });
        await writeFile(manifestPath, JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
            config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 2 },
            layers: [
                { mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${digest}`, size: (await readFile(source)).length },
                { mediaType: 'application/vnd.ollama.image.params', digest: `sha256:${'1'.repeat(64)}`, size: 2 },
            ],
        }));
        expected.push({ name, origin: 'ollama', architecture, quantization: 'F16', trainContextSize, parts: 1, file: blob });
    };
    await ollamaModel(gemma3, ['registry.ollama.ai', 'library', 'gemma3', 'tiny'], 'gemma3:tiny', 'gemma3', 131072);
    await ollamaModel(phi3, ['hf.co', 'someone', 'Phi-Tiny-GGUF', 'F16'], 'hf.co/someone/Phi-Tiny-GGUF:F16', 'phi3', 131072);
    await ollamaModel(granite, ['hf.co', 'someone', 'Granite-Tiny-GGUF', 'F16'], 'hf.co/someone/Granite-Tiny-GGUF:F16', 'granite', 131072);
    const badManifest = path.join(ollama, 'manifests', 'registry.ollama.ai', 'library', 'broken', 'latest');
    await mkdir(path.dirname(badManifest), { recursive: true });
    await writeFile(badManifest, '{"schemaVersion": 2, "layers": [');
    broken.push({ path: badManifest, because: /manifest cannot be read/ });
    const orphan = path.join(ollama, 'manifests', 'registry.ollama.ai', 'library', 'gone', '7b');
    await mkdir(path.dirname(orphan), { recursive: true });
    await writeFile(orphan, JSON.stringify({ layers: [{ mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${'a'.repeat(64)}` }] }));
    broken.push({ path: orphan, because: /blob .* is missing/ });

    // Jan (0.6+, llama.cpp engine): data/llamacpp/models/<org>/<name>/model.gguf beside its model.yml.
    const jan = path.join(home, '.local', 'share', 'Jan', 'data', 'llamacpp', 'models', 'someone', 'qwen2-tiny');
    expected.push({ name: 'someone/qwen2-tiny', origin: 'jan', architecture: 'qwen2', quantization: 'F16', trainContextSize: 32768, parts: 1, file: await place(qwen2, path.join(jan, 'model.gguf')) });
    await writeFile(path.join(jan, 'model.yml'), 'model_path: model.gguf\nname: qwen2-tiny\n');
    // The same file as Headroom's organism, reached again through a link: listed once.
    await symlink(path.join(headroomFolder, 'organism.gguf'), path.join(home, '.local', 'share', 'Jan', 'data', 'llamacpp', 'models', 'organism-link.gguf'));

    // The Hugging Face hub cache: snapshots/<revision>/<file> links to ../../blobs/<sha256>.
    const repo = path.join(home, '.cache', 'huggingface', 'hub', 'models--tester--Organism-GGUF');
    const digest = await sha256(ORGANISM);
    await place(ORGANISM, path.join(repo, 'blobs', digest));
    const revision = 'a'.repeat(40);
    await mkdir(path.join(repo, 'snapshots', revision), { recursive: true });
    await mkdir(path.join(repo, 'refs'), { recursive: true });
    await writeFile(path.join(repo, 'refs', 'main'), revision);
    const snapshotFile = path.join(repo, 'snapshots', revision, 'organism-F32.gguf');
    await symlink(path.join('..', '..', 'blobs', digest), snapshotFile);
    expected.push({ name: 'tester/Organism-GGUF/organism-F32', origin: 'huggingface', architecture: 'llama', quantization: 'F32', trainContextSize: 4096, parts: 1, file: snapshotFile });

    return { home, headroomFolder, expected, broken };
}
