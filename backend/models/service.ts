// The Models view's backend: the models on this machine, the catalog with its verdicts for this
// machine, and downloads into Headroom's models folder (which the settings may move).
import type { EventEnvelope } from '../../common/contract.ts';
import { errorMessage } from '../../common/errors.ts';
import { ModelCatalog, supportsHeadwise, type CatalogView, type DownloadState, type FitVerdict, type LocalModels } from '../../common/models.ts';
import { eventEnvelope, type Handlers } from '../../common/rpc.ts';
import type { uiRequests } from '../../common/uiContract.ts';
import type { EngineSupervisor } from '../host/supervisor.ts';
import type { KeyValueStore, SettingsService } from '../settings.ts';
import catalogFile from './catalog.json' with { type: 'json' };
import { scanModels } from './discovery.ts';
import { DownloadManager, type DownloadManagerOptions } from './downloads.ts';
import { defaultModelsFolder, type MachinePlaces } from './folders.ts';
import { machinePlaces } from '../paths.ts';

/** Checked once, when the backend starts: a broken catalog is a bug to see at once. */
export const CATALOG = ModelCatalog.parse(catalogFile);

/** Verdicts depend on free memory, which moves: planned again after this long. */
const VERDICT_TTL_MS = 60_000;

export type ModelsHandlers = Handlers<typeof uiRequests, 'models.list' | 'models.catalog' | 'models.download' | 'models.cancelDownload' | 'models.downloads'>;

export interface ModelsServiceOptions {
    settings: SettingsService;
    supervisor: EngineSupervisor;
    /** Loads a model as a window's model.load would (the model loader: the saved settings). */
    open: (file: string) => Promise<unknown>;
    /** Where downloads are remembered across restarts (the settings table). */
    journal: KeyValueStore;
    emit: (event: EventEnvelope) => void;
    /** The home folder and environment the other apps' folders are found from (tests: a temporary home). */
    places?: MachinePlaces;
    downloads?: Pick<DownloadManagerOptions, 'freeBytes' | 'stallMs' | 'huggingFaceEndpoint'>;
}


export class ModelsService {
    readonly downloads: DownloadManager;
    #options: ModelsServiceOptions;
    #places: MachinePlaces;
    #verdicts: { budget: number; at: number; result: Promise<FitVerdict[]> } | null = null;

    constructor(options: ModelsServiceOptions) {
        this.#options = options;
        this.#places = options.places ?? machinePlaces();
        this.downloads = new DownloadManager({
            ...options.downloads,
            folder: () => this.folder(),
            journal: options.journal,
            onChange: (state) => this.#changed(state),
        });
    }

    /** Headroom's models folder: the settings' choice, else the platform's default. */
    folder(): string {
        return this.#options.settings.settings.modelsFolder ?? defaultModelsFolder(this.#places);
    }

    list(): Promise<LocalModels> {
        return scanModels({ places: this.#places, headroomFolder: this.folder(), exclude: (file) => this.downloads.isInProgress(file) });
    }

    async catalog(): Promise<CatalogView> {
        const settings = this.#options.settings.settings;
        const budget = settings.kvBudget;
        let verdicts: FitVerdict[] = [];
        let verdictError: string | null = null;
        try {
            verdicts = await this.#plannedVerdicts(budget);
        } catch (error) {
            verdictError = `The fit on this machine could not be planned: ${errorMessage(error)}`;
        }
        const models = await Promise.all(CATALOG.models.map(async (model) => ({
            ...model,
            headwise: supportsHeadwise(model.architecture),
            verdict: verdicts.find((v) => v.id === model.id) ?? null,
            localPath: await this.downloads.downloadedPath(model.uri),
        })));
        return { models, source: CATALOG.source, budget, verdictError };
    }

    #plannedVerdicts(budget: number): Promise<FitVerdict[]> {
        const cached = this.#verdicts;
        if (cached != null && cached.budget === budget && Date.now() - cached.at < VERDICT_TTL_MS) return cached.result;
        const settings = this.#options.settings.settings;
        const result = this.#options.supervisor.fitPublished({
            models: CATALOG.models.map(({ id, architecture, sizeBytes, layers, heads, kvHeads, headDim, embeddingLength, feedForwardLength, vocabSize, trainContextSize }) =>
                ({ id, architecture, sizeBytes, layers, heads, kvHeads, headDim, embeddingLength, feedForwardLength, vocabSize, trainContextSize })),
            kv: { mode: 'budget', budget, sinks: settings.sinks, window: settings.window, offload: settings.kvOffload },
        });
        this.#verdicts = { budget, at: Date.now(), result };
        result.catch(() => {
            if (this.#verdicts?.result === result) this.#verdicts = null;
        });
        return result;
    }

    #changed(state: DownloadState): void {
        this.#options.emit(eventEnvelope('models.download', state));
        if (state.status !== 'done' || state.path == null) return;
        this.#options.emit(eventEnvelope('models.changed', {}));
        if (state.open) void this.#open(state.path);
    }

    /** Loads a model that was downloaded to be opened, unless the engine is busy with something else. */
    async #open(file: string): Promise<void> {
        const { supervisor, open } = this.#options;
        if (supervisor.state.status === 'generating' || supervisor.state.status === 'loading') return;
        // A failed load shows as the engine's state, like any other load.
        await open(file).catch(() => {});
    }

    handlers(): ModelsHandlers {
        return {
            'models.list': () => this.list(),
            'models.catalog': () => this.catalog(),
            'models.download': async (request) => this.downloads.start(request),
            'models.cancelDownload': async ({ id }) => ({ cancelled: this.downloads.cancel(id) }),
            'models.downloads': async () => this.downloads.list(),
        };
    }

    /** Stops the downloads (they resume next time); resolves once their files are closed. */
    dispose(): Promise<void> {
        return this.downloads.dispose();
    }
}
