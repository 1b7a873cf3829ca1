// The one global common/ code uses: Node, Electron and browsers all have it.
declare const console: { warn: (...data: unknown[]) => void; error: (...data: unknown[]) => void };
