// Where each app keeps its models, under a given home folder (tests pass a temporary one), in
// the layout that app writes. Environment variables the apps themselves honour move them.
import path from 'node:path';
import type { ModelOrigin } from '../../common/models.ts';
import { dataPaths, type MachinePlaces } from '../../common/paths.ts';

export type { MachinePlaces } from '../../common/paths.ts';

/** How a folder is read: a tree of .gguf files, Ollama's manifests and blobs, or the HF hub cache. */
export type FolderLayout = 'tree' | 'ollama' | 'huggingface';

export interface ModelSearchFolder {
    origin: ModelOrigin;
    path: string;
    layout: FolderLayout;
}

const absolute = (value: string | undefined) => (value != null && path.isAbsolute(value) ? value : null);

/** The folder Headroom downloads to unless the settings name another (common/paths.ts decides it). */
export function defaultModelsFolder(places: MachinePlaces): string {
    return dataPaths(places).models;
}

/** Jan's data folder moved between versions; it keeps GGUFs under models/ and (since its llama.cpp engine) llamacpp/models/. */
function janFolders({ home, env, platform }: MachinePlaces): string[] {
    const data = platform === 'darwin'
        ? path.join(home, 'Library', 'Application Support', 'Jan', 'data')
        : platform === 'win32'
            ? path.join(absolute(env.APPDATA) ?? path.join(home, 'AppData', 'Roaming'), 'Jan', 'data')
            : path.join(absolute(env.XDG_DATA_HOME) ?? path.join(home, '.local', 'share'), 'Jan', 'data');
    return [path.join(home, 'jan', 'models'), path.join(data, 'models'), path.join(data, 'llamacpp', 'models')];
}

/** Every folder to look in, Headroom's own first. */
export function modelSearchFolders(places: MachinePlaces, headroomFolder: string): ModelSearchFolder[] {
    const { home, env } = places;
    const hfHome = absolute(env.HF_HOME) ?? path.join(absolute(env.XDG_CACHE_HOME) ?? path.join(home, '.cache'), 'huggingface');
    return [
        { origin: 'headroom', path: headroomFolder, layout: 'tree' },
        { origin: 'lmstudio', path: path.join(home, '.lmstudio', 'models'), layout: 'tree' },
        { origin: 'lmstudio', path: path.join(home, '.cache', 'lm-studio', 'models'), layout: 'tree' },
        { origin: 'ollama', path: absolute(env.OLLAMA_MODELS) ?? path.join(home, '.ollama', 'models'), layout: 'ollama' },
        ...janFolders(places).map((folder) => ({ origin: 'jan' as const, path: folder, layout: 'tree' as const })),
        { origin: 'huggingface', path: absolute(env.HF_HUB_CACHE) ?? path.join(hfHome, 'hub'), layout: 'huggingface' },
    ];
}
