// Charts as SVG we write ourselves; svgPng.ts renders them to PNG (no browser, no canvas).

const FONT = 'DejaVu Sans, Liberation Sans, Arial, sans-serif';
const SERIES_COLORS = ['#2b6cb0', '#dd6b20', '#38a169', '#805ad5', '#d53f8c', '#718096'];

function escapeXml(text: string): string {
    const entities: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' };
    return text.replace(/[<>&"']/g, (c) => entities[c] ?? c);
}

function text(x: number, y: number, content: string, attrs = ''): string {
    return `<text x="${x}" y="${y}" font-family="${FONT}" ${attrs}>${escapeXml(content)}</text>`;
}

/** Red (0) through yellow to green (1), the usual needle-in-a-haystack palette. */
function intensityColor(value: number): string {
    const v = Math.min(1, Math.max(0, value));
    const mix = (from: number, to: number) => Math.round(from + (to - from) * v);
    return `rgb(${mix(247, 43)},${mix(250, 108)},${mix(252, 176)})`;
}

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

export interface BarPanel {
    title: string;
    yLabel: string;
    /** values[series][group]; null draws nothing (not measured). */
    values: (number | null)[][];
}

export interface GroupedBarsInput {
    title: string;
    groups: string[];
    groupLabel: string;
    series: string[];
    panels: BarPanel[];
}

/** A round tick step that covers `value` in about four steps. */
function niceStep(value: number): number {
    if (value <= 0) return 0.25;
    const raw = value / 4;
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= raw) return step * magnitude;
    return 10 * magnitude;
}

function formatTick(value: number): string {
    if (value === 0) return '0';
    if (Math.abs(value) >= 1e6) return `${+(value / 1e6).toFixed(1)}M`;
    if (Math.abs(value) >= 1e4) return `${+(value / 1e3).toFixed(1)}k`;
    return `${+value.toFixed(2)}`;
}

/** Side-by-side panels of grouped bars sharing groups (x) and series (legend). */
export function groupedBarsSvg(input: GroupedBarsInput): string {
    const panelWidth = 300;
    const panelHeight = 260;
    const left = 80;
    const gap = 90;
    const top = 96;
    const width = left + input.panels.length * panelWidth + (input.panels.length - 1) * gap + 40;
    const height = top + panelHeight + 110;
    const parts: string[] = [];
    parts.push(text(width / 2, 28, input.title, 'font-size="18" font-weight="bold" text-anchor="middle"'));
    // Legend across the top.
    let lx = left;
    input.series.forEach((name, s) => {
        parts.push(`<rect x="${lx}" y="46" width="14" height="14" fill="${SERIES_COLORS[s % SERIES_COLORS.length]}"/>`);
        parts.push(text(lx + 20, 58, name, 'font-size="13"'));
        lx += 34 + name.length * 7.5;
    });
    input.panels.forEach((panel, p) => {
        const x0 = left + p * (panelWidth + gap);
        const y0 = top;
        const step = niceStep(Math.max(0, ...panel.values.flat().filter((v): v is number => v != null)));
        const ticks = Math.max(1, Math.ceil(Math.max(0, ...panel.values.flat().filter((v): v is number => v != null)) / step));
        const max = ticks * step;
        parts.push(text(x0 + panelWidth / 2, y0 - 14, panel.title, 'font-size="14" font-weight="bold" text-anchor="middle"'));
        for (let t = 0; t <= ticks; t++) {
            const y = y0 + panelHeight - (t / ticks) * panelHeight;
            parts.push(`<line x1="${x0}" y1="${y}" x2="${x0 + panelWidth}" y2="${y}" stroke="#e2e8f0"/>`);
            parts.push(text(x0 - 6, y + 4, formatTick(t * step), 'font-size="12" text-anchor="end"'));
        }
        parts.push(`<line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y0 + panelHeight}" stroke="#4a5568"/>`);
        parts.push(`<line x1="${x0}" y1="${y0 + panelHeight}" x2="${x0 + panelWidth}" y2="${y0 + panelHeight}" stroke="#4a5568"/>`);
        const groupWidth = panelWidth / input.groups.length;
        const barWidth = (groupWidth * 0.8) / Math.max(1, input.series.length);
        input.groups.forEach((group, g) => {
            const gx = x0 + g * groupWidth + groupWidth * 0.1;
            input.series.forEach((_, s) => {
                const value = panel.values[s]?.[g];
                if (value == null) return;
                const h = (value / max) * panelHeight;
                parts.push(`<rect x="${gx + s * barWidth}" y="${y0 + panelHeight - h}" width="${barWidth - 2}" height="${h}" fill="${SERIES_COLORS[s % SERIES_COLORS.length]}"/>`);
            });
            parts.push(text(x0 + g * groupWidth + groupWidth / 2, y0 + panelHeight + 18, group, 'font-size="12" text-anchor="middle"'));
        });
        parts.push(text(x0 + panelWidth / 2, y0 + panelHeight + 40, input.groupLabel, 'font-size="13" text-anchor="middle"'));
        const cy = y0 + panelHeight / 2;
        parts.push(text(x0 - 58, cy, panel.yLabel, `font-size="13" text-anchor="middle" transform="rotate(-90 ${x0 - 58} ${cy})"`));
    });
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>`;
}
