// The globals common/ code uses: Node, Electron and browsers all have them.
declare const console: { warn: (...data: unknown[]) => void; error: (...data: unknown[]) => void };
declare class TextDecoder {
    constructor(label?: string);
    decode(input?: Uint8Array): string;
}
