// Data files next to the sources (fillers, shipped head profiles), found by `new URL(…, import.meta.url)`:
// a file: URL when run from the sources, a data: URL where a bundler inlined the file (the
// app's engine host is built in Vite's library mode, which inlines every such asset).
import { readFileSync } from 'node:fs';

export function readAssetText(url: URL): string {
    if (url.protocol === 'file:') return readFileSync(url, 'utf8');
    if (url.protocol !== 'data:') throw new Error(`Cannot read the asset at ${url.href}.`);
    const comma = url.href.indexOf(',');
    const data = url.href.slice(comma + 1);
    return url.href.slice(0, comma).endsWith(';base64') ? Buffer.from(data, 'base64').toString('utf8') : decodeURIComponent(data);
}

