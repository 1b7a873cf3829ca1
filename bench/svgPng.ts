// SVG to PNG with resvg, kept apart from the chart code so that what only needs SVG (the
// profiler inside the app) does not load a native renderer.
import { Resvg } from '@resvg/resvg-js';

export function svgToPng(svg: string): Buffer {
    const resvg = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, background: 'white' });
    return Buffer.from(resvg.render().asPng());
}
