// Models as the Models view shows them: the GGUF files found on this machine (and which app
// keeps them), the curated catalog with each entry's fit on this machine, and downloads.
// Pure zod, shared by the backend, the engine host (catalog verdicts) and the UI.
import { z } from 'zod';
import { HEADWISE_ARCHITECTURES } from './modelShape.ts';

/** Where a model on disk came from: Headroom's own folder or another app's store. */
export const ModelOrigin = z.enum(['headroom', 'lmstudio', 'ollama', 'jan', 'huggingface']);
export type ModelOrigin = z.infer<typeof ModelOrigin>;

export const MODEL_ORIGIN_LABELS: Record<ModelOrigin, string> = {
    headroom: 'Headroom',
    lmstudio: 'LM Studio',
    ollama: 'Ollama',
    jan: 'Jan',
    huggingface: 'Hugging Face cache',
};

/** Whether our llama.cpp build can split this architecture's attention by head. */
export const supportsHeadwise = (architecture: string) => HEADWISE_ARCHITECTURES.has(architecture);

const Path = z.string().min(1).max(4096);
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');

/** A GGUF model found on disk, described from its header (never its tensors). */
export const LocalModel = z.object({
    /** The file to load: the model itself, the first part of a split model, or Ollama's blob. */
    path: Path,
    /** As its app names it: `name:tag` for Ollama, `publisher/repo/file` for LM Studio. */
    name: z.string(),
    origin: ModelOrigin,
    /** All parts together. */
    sizeBytes: z.number().int().nonnegative(),
    parts: z.number().int().positive(),
    architecture: z.string(),
    /** The file type (Q4_K_M, F16…), or the dominant tensor type when the header names none. */
    quantization: z.string().nullable(),
    trainContextSize: z.number().int().nonnegative(),
    headwise: z.boolean(),
    modifiedAt: z.number(),
});
export type LocalModel = z.infer<typeof LocalModel>;

/** A file or manifest that looked like a model but could not be used, and why. */
export const ScanNote = z.object({ path: z.string(), message: z.string() });
export type ScanNote = z.infer<typeof ScanNote>;

export const ModelFolder = z.object({ origin: ModelOrigin, path: z.string(), exists: z.boolean() });
export type ModelFolder = z.infer<typeof ModelFolder>;

export const LocalModels = z.object({
    models: z.array(LocalModel),
    notes: z.array(ScanNote),
    /** Every folder looked in, found or not. */
    folders: z.array(ModelFolder),
});
export type LocalModels = z.infer<typeof LocalModels>;

/** The shape a catalog verdict is planned from: what the planner needs without the file. */
export const PublishedShape = z.object({
    id: z.string().min(1).max(100),
    architecture: z.string().min(1).max(64),
    sizeBytes: z.number().int().positive(),
    layers: z.number().int().positive().max(1024),
    heads: z.number().int().positive().max(1024),
    kvHeads: z.number().int().positive().max(1024),
    headDim: z.number().int().positive().max(4096),
    embeddingLength: z.number().int().positive(),
    feedForwardLength: z.number().int().positive(),
    vocabSize: z.number().int().positive(),
    trainContextSize: z.number().int().positive().max(1 << 24),
}).strict();
export type PublishedShape = z.infer<typeof PublishedShape>;

/** One entry of the curated catalog (backend/models/catalog.json). */
export const CatalogModel = PublishedShape.extend({
    name: z.string().min(1).max(100),
    publisher: z.string().min(1).max(100),
    /** node-llama-cpp's Hugging Face URI: hf:<user>/<repo>:<quant> or hf:<user>/<repo>/<file>. */
    uri: z.string().regex(/^hf:[\w.-]+\/[\w.-]+(?::[\w.-]+|\/.+\.gguf)$/, 'must be hf:<user>/<repo>:<quant> or hf:<user>/<repo>/<file>.gguf'),
    quantization: z.string().min(1).max(32),
    /** Of the file, when published; verified after the download. */
    sha256: Sha256.optional(),
    blurb: z.string().max(300),
}).strict();
export type CatalogModel = z.infer<typeof CatalogModel>;

export const ModelCatalog = z.object({
    /** Where the sizes and shapes come from, for whoever edits the file. */
    source: z.string(),
    models: z.array(CatalogModel).min(1),
}).strict();
export type ModelCatalog = z.infer<typeof ModelCatalog>;

/** The largest context that fits this machine one way; 0 when none does. */
export const ContextFit = z.object({ contextSize: z.number().int().nonnegative(), message: z.string() });
export type ContextFit = z.infer<typeof ContextFit>;

/** What a catalog model gives on this machine, planned from its published shape. */
export const FitVerdict = z.object({
    id: z.string(),
    full: ContextFit,
    /** With head-level compression at `budget`; null when our build does not support the architecture. */
    compressed: ContextFit.extend({ budget: z.number().gt(0).max(1) }).nullable(),
});
export type FitVerdict = z.infer<typeof FitVerdict>;

export const CatalogEntry = CatalogModel.extend({
    headwise: z.boolean(),
    /** null when the engine could not plan it (its reason is in CatalogView.verdictError). */
    verdict: FitVerdict.nullable(),
    /** The downloaded file, when it is in the models folder. */
    localPath: z.string().nullable(),
});
export type CatalogEntry = z.infer<typeof CatalogEntry>;

export const CatalogView = z.object({
    models: z.array(CatalogEntry),
    source: z.string(),
    /** The compression budget the verdicts are planned at (the settings' budget). */
    budget: z.number().gt(0).max(1),
    verdictError: z.string().nullable(),
});
export type CatalogView = z.infer<typeof CatalogView>;

/** A model URI or URL: what `--model` and the Models view accept besides a path. */
export function isRemoteModelSource(source: string): boolean {
    return /^(hf:|https?:\/\/)/i.test(source.trim());
}

export const DownloadRequest = z.object({
    /** hf:<user>/<repo>:<quant>, hf:<user>/<repo>/<file>.gguf, or an http(s) URL of a .gguf file. */
    source: z.string().trim().min(1).max(4096),
    /** The file's sha256, when known: the download is refused and deleted if it differs. */
    sha256: Sha256.optional(),
    /** Load the model once it is downloaded and verified. */
    open: z.boolean().optional(),
}).strict();
export type DownloadRequest = z.infer<typeof DownloadRequest>;

export const DownloadStatus = z.enum(['resolving', 'downloading', 'verifying', 'done', 'failed', 'cancelled']);
export type DownloadStatus = z.infer<typeof DownloadStatus>;

export const DownloadState = z.object({
    id: z.string().regex(/^[\w-]{1,64}$/),
    source: z.string(),
    /** The file name once the source is resolved. */
    fileName: z.string().nullable(),
    status: DownloadStatus,
    receivedBytes: z.number().nonnegative(),
    /** 0 until the server says. */
    totalBytes: z.number().nonnegative(),
    /** Bytes that were already on disk from an earlier, interrupted attempt. */
    resumedFromBytes: z.number().nonnegative(),
    bytesPerSecond: z.number().nonnegative(),
    etaSeconds: z.number().nonnegative().nullable(),
    /** The model file (the first part of a split model) once done. */
    path: z.string().nullable(),
    error: z.string().nullable(),
    /** The checksum it is checked against, when one is known. */
    sha256: Sha256.nullable(),
    open: z.boolean(),
    startedAt: z.number(),
});
export type DownloadState = z.infer<typeof DownloadState>;

export const isFinished = (status: DownloadStatus) => status === 'done' || status === 'failed' || status === 'cancelled';

/** Sizes and speeds of downloads as servers and file managers quote them (decimal units). */
export function formatSize(bytes: number): string {
    if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
    if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
    return `${Math.max(0, Math.round(bytes / 1e3))} kB`;
}

/** A time left: "40 s", "3 min 5 s", "1 h 20 min". */
export function formatDuration(seconds: number): string {
    if (seconds < 60) return `${Math.max(1, Math.ceil(seconds))} s`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
    return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
