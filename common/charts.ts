// Charts as SVG text we write ourselves, pure string work that runs in every process: the app
// shows them as images (Test recall), the benchmarks render them to PNG (bench/svgPng.ts).

export const FONT = 'DejaVu Sans, Liberation Sans, Arial, sans-serif';
export const SERIES_COLORS = ['#2b6cb0', '#dd6b20', '#38a169', '#805ad5', '#d53f8c', '#718096', '#319795', '#b7791f', '#e53e3e'];

export function escapeXml(text: string): string {
    const entities: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' };
    return text.replace(/[<>&"']/g, (c) => entities[c] ?? c);
}

export function text(x: number, y: number, content: string, attrs = ''): string {
    return `<text x="${x}" y="${y}" font-family="${FONT}" ${attrs}>${escapeXml(content)}</text>`;
}

/** White (nothing) to blue (much). */
function intensityColor(value: number): string {
    const v = Math.min(1, Math.max(0, value));
    const mix = (from: number, to: number) => Math.round(from + (to - from) * v);
    return `rgb(${mix(247, 43)},${mix(250, 108)},${mix(252, 176)})`;
}

/** Red (0) through yellow to green (1), the usual needle-in-a-haystack palette. */
function accuracyColor(value: number): string {
    const v = Math.min(1, Math.max(0, value));
    const [r, g, b] = v < 0.5
        ? [220, Math.round(60 + (200 - 60) * (v / 0.5)), 60]
        : [Math.round(220 - (220 - 56) * ((v - 0.5) / 0.5)), Math.round(200 - (200 - 161) * ((v - 0.5) / 0.5)), Math.round(60 + (105 - 60) * ((v - 0.5) / 0.5))];
    return `rgb(${r},${g},${b})`;
}

export interface HeatmapInput {
    title: string;
    /** Column labels (context lengths) and row labels (depths), in display order. */
    columns: string[];
    rows: string[];
    /** cells[row][column]: a value in [0, 1] (the color), or null when not measured. */
    cells: (number | null)[][];
    /** What each cell says; percentages of `cells` unless given. */
    labels?: string[][];
    /** The legend's title and its top and bottom ends. */
    legend?: { title: string; high: string; low: string };
    /** accuracy: red (bad) to green (good); intensity: white (nothing) to blue (much). */
    palette?: 'accuracy' | 'intensity';
    xLabel: string;
    yLabel: string;
}

export function heatmapSvg(input: HeatmapInput): string {
    const cell = 72;
    const left = 110;
    const top = 60;
    const legendWidth = 90;
    // Wide enough for the title too (about 10 px per character at 18 px).
    const width = Math.max(left + input.columns.length * cell + legendWidth + 20, input.title.length * 11 + 40);
    const color = input.palette === 'intensity' ? intensityColor : accuracyColor;
    const height = top + input.rows.length * cell + 70;
    const parts: string[] = [];
    parts.push(text(width / 2, 30, input.title, 'font-size="18" font-weight="bold" text-anchor="middle"'));
    input.rows.forEach((row, r) => {
        parts.push(text(left - 10, top + r * cell + cell / 2 + 5, row, 'font-size="14" text-anchor="end"'));
        input.columns.forEach((_, c) => {
            const value = input.cells[r]?.[c] ?? null;
            const x = left + c * cell;
            const y = top + r * cell;
            parts.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${value == null ? '#e2e8f0' : color(value)}" stroke="white" stroke-width="2"/>`);
            const label = input.labels?.[r]?.[c] ?? (value == null ? '–' : `${Math.round(value * 100)}%`);
            const ink = input.palette === 'intensity' && value != null && value > 0.6 ? 'white' : '#1a202c';
            parts.push(text(x + cell / 2, y + cell / 2 + 5, label, `font-size="14" text-anchor="middle" fill="${ink}"`));
        });
    });
    input.columns.forEach((column, c) => {
        parts.push(text(left + c * cell + cell / 2, top + input.rows.length * cell + 22, column, 'font-size="14" text-anchor="middle"'));
    });
    const gridBottom = top + input.rows.length * cell;
    parts.push(text(left + (input.columns.length * cell) / 2, gridBottom + 50, input.xLabel, 'font-size="15" text-anchor="middle"'));
    parts.push(text(24, top + (input.rows.length * cell) / 2, input.yLabel, `font-size="15" text-anchor="middle" transform="rotate(-90 24 ${top + (input.rows.length * cell) / 2})"`));
    // Legend: a vertical gradient from 0% to 100%.
    const lx = left + input.columns.length * cell + 30;
    const steps = 20;
    const legendHeight = Math.max(cell * 2, input.rows.length * cell);
    for (let i = 0; i < steps; i++) {
        const value = 1 - i / (steps - 1);
        parts.push(`<rect x="${lx}" y="${top + (i * legendHeight) / steps}" width="20" height="${legendHeight / steps + 0.5}" fill="${color(value)}"/>`);
    }
    const legend = input.legend ?? { title: 'accuracy', high: '100%', low: '0%' };
    parts.push(text(lx + 26, top + 10, legend.high, 'font-size="12"'));
    parts.push(text(lx + 26, top + legendHeight, legend.low, 'font-size="12"'));
    parts.push(text(lx + 10, top - 10, legend.title, 'font-size="12" text-anchor="middle"'));
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>`;
}
