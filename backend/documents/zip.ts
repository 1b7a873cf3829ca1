// The zip inside DOCX and EPUB files, read with a budget: every entry is inflated as a stream
// and the bytes that come out are counted, so a zip bomb (a few hundred KB that inflate to
// gigabytes) stops at the cap whatever sizes its headers claim.
import JSZip from 'jszip';
import { HeadroomError } from '../../common/errors.ts';

export interface ZipLimits {
    /** Inflated bytes a document may hold at most, whatever its size. */
    maxInflatedBytes: number;
    /** Inflated bytes per byte of the file, beyond `ratioFreeBytes`: text compresses about 10:1, bombs 1000:1. */
    maxRatio: number;
    ratioFreeBytes: number;
    maxEntries: number;
}

export const ZIP_LIMITS: ZipLimits = { maxInflatedBytes: 256 * 1024 * 1024, maxRatio: 100, ratioFreeBytes: 32 * 1024 * 1024, maxEntries: 20_000 };

const mb = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MB`;

/** A zip archive whose entries are read within one shared budget of inflated bytes. */
export class BoundedZip {
    readonly names: readonly string[];
    #zip: JSZip;
    #name: string;
    #allowed: number;
    #inflated = 0;

    private constructor(zip: JSZip, name: string, allowed: number) {
        this.#zip = zip;
        this.#name = name;
        this.#allowed = allowed;
        this.names = Object.values(zip.files).filter((entry) => !entry.dir).map((entry) => entry.name);
    }

    /** `kind` names what the file should be, for the message when it is not a zip at all. */
    static async open(name: string, bytes: Uint8Array, kind: string, limits: ZipLimits = ZIP_LIMITS): Promise<BoundedZip> {
        let zip: JSZip;
        try {
            zip = await JSZip.loadAsync(bytes);
        } catch {
            throw new HeadroomError('DOCUMENT_UNREADABLE', `${name} is damaged or is not ${kind}.`);
        }
        const allowed = Math.min(limits.maxInflatedBytes, Math.max(limits.ratioFreeBytes, bytes.length * limits.maxRatio));
        const archive = new BoundedZip(zip, name, allowed);
        if (archive.names.length > limits.maxEntries) {
            throw new HeadroomError('DOCUMENT_TOO_LARGE', `${name} packs ${archive.names.length.toLocaleString('en-US')} files; Headroom reads documents of up to ${limits.maxEntries.toLocaleString('en-US')}.`);
        }
        return archive;
    }

    has(path: string): boolean {
        return this.#zip.file(path) != null;
    }

    /** An entry's bytes, or null when there is no such entry; refused once the budget is spent. */
    async bytes(path: string): Promise<Uint8Array | null> {
        const entry = this.#zip.file(path);
        if (entry == null) return null;
        const chunks: Buffer[] = [];
        await new Promise<void>((resolve, reject) => {
            const stream = entry.nodeStream('nodebuffer');
            stream.on('data', (chunk: Buffer) => {
                this.#inflated += chunk.length;
                if (this.#inflated > this.#allowed) {
                    stream.pause();
                    reject(new HeadroomError('DOCUMENT_TOO_LARGE',
                        `${this.#name} unpacks to more than ${mb(this.#allowed)}, far more than a document of its size holds; it may be damaged or built to exhaust memory, so Headroom stopped reading it.`));
                    return;
                }
                chunks.push(chunk);
            });
            stream.on('error', () => reject(new HeadroomError('DOCUMENT_UNREADABLE', `${this.#name} is damaged: part of it (${path}) cannot be unpacked.`)));
            stream.on('end', () => resolve());
        });
        return Buffer.concat(chunks);
    }

    async text(path: string): Promise<string | null> {
        const bytes = await this.bytes(path);
        return bytes == null ? null : new TextDecoder('utf-8').decode(bytes);
    }
}
