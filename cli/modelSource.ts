// `--model` on ask, serve and plan: a file path, or an hf: URI or URL whose model is downloaded
// into Headroom's models folder first (the Models view's downloader), with progress on stderr.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { formatDuration, formatSize, isRemoteModelSource, type DownloadState } from '../common/models.ts';
import { DATABASE_FILE } from '../backend/backend.ts';
import { HeadroomDatabase } from '../backend/database.ts';
import { DownloadManager } from '../backend/models/downloads.ts';
import { defaultModelsFolder } from '../backend/models/folders.ts';
import { machinePlaces } from '../backend/paths.ts';
import { SettingsService } from '../backend/settings.ts';
import { defaultDataDir } from './args.ts';

/** The models folder the settings saved in a data folder name, else the default one. */
export function savedModelsFolder(dataDir = defaultDataDir()): string {
    const file = path.join(dataDir, DATABASE_FILE);
    if (existsSync(file)) {
        const db = new HeadroomDatabase(file);
        try {
            const folder = new SettingsService(db.settings).settings.modelsFolder;
            if (folder != null) return folder;
        } finally {
            db.close();
        }
    }
    return defaultModelsFolder(machinePlaces());
}

/** Progress on one line rewritten in place on a terminal; into a log, a line a second, and the last one. */
function progressLine(stream: NodeJS.WriteStream): (state: DownloadState) => void {
    let lastLogged = 0;
    return (state) => {
        const finished = state.status === 'verifying';
        if ((state.status !== 'downloading' && !finished) || state.totalBytes === 0 || (state.receivedBytes === 0 && !finished)) return;
        const percent = Math.floor((state.receivedBytes / state.totalBytes) * 100);
        const line = [
            `Downloading ${state.fileName ?? state.source}`, `${percent}%`,
            `${formatSize(state.receivedBytes)} of ${formatSize(state.totalBytes)}`,
            ...(!finished && state.bytesPerSecond > 0 ? [`${formatSize(state.bytesPerSecond)}/s`] : []),
            ...(!finished && state.etaSeconds != null && state.bytesPerSecond > 0 ? [`${formatDuration(state.etaSeconds)} left`] : []),
        ].join('  ');
        if (stream.isTTY) {
            stream.write(`\r${line}\x1b[K${finished ? '\n' : ''}`);
        } else if (finished || Date.now() - lastLogged >= 1000) {
            lastLogged = Date.now();
            stream.write(`${line}\n`);
        }
    };
}

/**
 * The model file for a `--model` value: a path as it is (resolved), or the downloaded file for
 * a URI or URL. Throws with the download's own message when it fails.
 */
export async function resolveModelOption(value: string, folder: string, stream: NodeJS.WriteStream = process.stderr): Promise<string> {
    if (!isRemoteModelSource(value)) {
        const file = path.resolve(value);
        if (!existsSync(file)) throw new Error(`no model file at ${file}.`);
        return file;
    }
    const print = progressLine(stream);
    const downloads = new DownloadManager({ folder: () => folder, onChange: print });
    const stop = () => void downloads.dispose().then(() => process.exit(130));
    process.once('SIGINT', stop);
    try {
        const started = downloads.start({ source: value });
        stream.write(`Getting ${value} into ${folder}…\n`);
        const state = await downloads.finished(started.id);
        if (state.status !== 'done' || state.path == null) throw new Error(state.error ?? `the download ${state.status === 'cancelled' ? 'was cancelled' : 'failed'}.`);
        stream.write(`${state.resumedFromBytes > 0 ? 'Resumed and downloaded' : 'Ready:'} ${state.path}\n`);
        return state.path;
    } finally {
        process.off('SIGINT', stop);
    }
}
