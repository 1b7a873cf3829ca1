// What a GGUF file's header says about its model, read with node-llama-cpp's parser: the
// metadata and, only when the header names no file type, the tensor table. Never the weights.
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { errorMessage } from '../../common/errors.ts';
import { samplingFromMetadata, type Sampling } from '../../common/chatSettings.ts';
import { readGgufHeader } from '../../common/ggufHeader.ts';

export interface ModelHeader {
    architecture: string;
    /** general.name, when the file has one. */
    name: string | null;
    quantization: string | null;
    trainContextSize: number;
    /** The sampling the file recommends (general.sampling.*), as far as it says. */
    sampling: Partial<Sampling>;
}

/** The tokenizer's arrays are most of a header and say nothing the Models view shows. */
const SKIPPED_KEYS = ['tokenizer.ggml.tokens', 'tokenizer.ggml.scores', 'tokenizer.ggml.token_type', 'tokenizer.ggml.merges'];

/** The parts of a split model (`name-00001-of-00003.gguf`), in order, or just the file. */
export function splitParts(file: string): string[] {
    const match = /-(\d{5})-of-(\d{5})\.gguf$/i.exec(file);
    if (match == null) return [file];
    const count = Number(match[2]);
    const stem = file.slice(0, file.length - match[0].length);
    return Array.from({ length: count }, (_, i) => `${stem}-${String(i + 1).padStart(5, '0')}-of-${match[2]}.gguf`);
}

/** Whether a file is the second or later part of a split model (listed through its first part). */
export function isLaterSplitPart(file: string): boolean {
    const match = /-(\d{5})-of-\d{5}\.gguf$/i.exec(file);
    return match != null && Number(match[1]) > 1;
}

/** Q4_K_M from node-llama-cpp's MOSTLY_Q4_K_M; F32 from ALL_F32. */
const typeName = (name: string | undefined) => name?.replace(/^(MOSTLY|ALL)_/, '') ?? null;

/** Reads the header; throws with the parser's reason when the file is not a readable GGUF. */
export async function readModelHeader(file: string): Promise<ModelHeader> {
    // node-llama-cpp's parser trusts the header's counts: a crafted file would keep it (and this process) busy for ever.
    await readGgufHeader(fs, file);
    const { readGgufFileInfo, GgufFileType, GgmlType } = await import('node-llama-cpp');
    const info = await readGgufFileInfo(file, { readTensorInfo: false, logWarnings: false, ignoreKeys: SKIPPED_KEYS, spliceSplitFiles: false });
    const general = info.metadata.general;
    if (general?.architecture == null) throw new Error('its header names no architecture');
    let quantization = general.file_type == null ? null : typeName(GgufFileType[general.file_type]);
    if (quantization == null) {
        // Older converters wrote no file type: the type of most of the weights says it.
        const { tensorInfo = [] } = await readGgufFileInfo(file, { logWarnings: false, ignoreKeys: SKIPPED_KEYS, spliceSplitFiles: false });
        const elements = new Map<number, number>();
        for (const tensor of tensorInfo) {
            const count = tensor.dimensions.reduce<number>((product, dim) => product * Number(dim), 1);
            elements.set(tensor.ggmlType, (elements.get(tensor.ggmlType) ?? 0) + count);
        }
        const dominant = [...elements].sort((a, b) => b[1] - a[1])[0];
        quantization = dominant == null ? null : typeName(GgmlType[dominant[0]]);
    }
    const context = (info.architectureMetadata as { context_length?: number }).context_length;
    return {
        architecture: String(general.architecture),
        name: general.name ?? null,
        quantization,
        trainContextSize: typeof context === 'number' ? context : 0,
        sampling: samplingFromMetadata(general),
    };
}

export interface ModelFile {
    header: ModelHeader;
    sizeBytes: number;
    parts: number;
    modifiedAt: number;
}

const headerCache = new Map<string, Promise<ModelHeader>>();

/**
 * A model file with its parts' total size; throws in plain words when a part is missing or
 * the header cannot be read. Headers are cached while a file keeps its size and time.
 */
export async function describeModelFile(file: string): Promise<ModelFile> {
    const parts = splitParts(file);
    let sizeBytes = 0;
    let modifiedAt = 0;
    for (const [index, part] of parts.entries()) {
        const info = await fs.stat(part).catch(() => null);
        if (info == null || !info.isFile()) throw new Error(`part ${index + 1} of ${parts.length} (${path.basename(part)}) is missing`);
        sizeBytes += info.size;
        modifiedAt = Math.max(modifiedAt, info.mtimeMs);
    }
    const key = `${file}:${sizeBytes}:${modifiedAt}`;
    let header = headerCache.get(key);
    if (header == null) {
        header = readModelHeader(file).catch((error: unknown) => {
            headerCache.delete(key);
            throw new Error(`not a readable GGUF model (${errorMessage(error).replace(/\.$/, '')})`);
        });
        headerCache.set(key, header);
    }
    return { header: await header, sizeBytes, parts: parts.length, modifiedAt };
}
