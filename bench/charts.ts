// The benchmarks' own charts, as SVG (svgPng.ts renders them to PNG); the heatmap they share
// with the app is in common/charts.ts.
import { SERIES_COLORS, text } from '../common/charts.ts';

export interface BarPanel {
    title: string;
    yLabel: string;
    /** values[series][group]; null draws nothing (not measured). */
    values: (number | null)[][];
    /** Optional [min, max] per bar, drawn as a whisker over it (the spread of repeated rounds). */
    ranges?: ([number, number] | null)[][];
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
    const width = left + input.panels.length * panelWidth + (input.panels.length - 1) * gap + 40;
    // Legend across the top, in as many rows as the names need.
    const legend: { x: number; row: number; name: string; s: number }[] = [];
    let lx = left;
    let row = 0;
    input.series.forEach((name, s) => {
        const entry = 34 + name.length * 7.5;
        if (lx > left && lx + entry > width - 20) {
            row++;
            lx = left;
        }
        legend.push({ x: lx, row, name, s });
        lx += entry;
    });
    const top = 96 + row * 20;
    const height = top + panelHeight + 110;
    const parts: string[] = [];
    parts.push(text(width / 2, 28, input.title, 'font-size="18" font-weight="bold" text-anchor="middle"'));
    for (const { x, row: r, name, s } of legend) {
        parts.push(`<rect x="${x}" y="${46 + r * 20}" width="14" height="14" fill="${SERIES_COLORS[s % SERIES_COLORS.length]}"/>`);
        parts.push(text(x + 20, 58 + r * 20, name, 'font-size="13"'));
    }
    input.panels.forEach((panel, p) => {
        const x0 = left + p * (panelWidth + gap);
        const y0 = top;
        const highest = Math.max(0, ...panel.values.flat().filter((v): v is number => v != null), ...(panel.ranges ?? []).flat().map((r) => r?.[1] ?? 0));
        const step = niceStep(highest);
        const ticks = Math.max(1, Math.ceil(highest / step));
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
                const spread = panel.ranges?.[s]?.[g];
                if (spread != null) {
                    const cx = gx + s * barWidth + (barWidth - 2) / 2;
                    const [lo, hi] = spread.map((v) => y0 + panelHeight - (v / max) * panelHeight);
                    const half = Math.min(4, (barWidth - 2) / 3);
                    parts.push(`<path d="M${cx} ${lo}V${hi}M${cx - half} ${lo}H${cx + half}M${cx - half} ${hi}H${cx + half}" stroke="#1a202c" stroke-width="1.2" fill="none"/>`);
                }
            });
            parts.push(text(x0 + g * groupWidth + groupWidth / 2, y0 + panelHeight + 18, group, 'font-size="12" text-anchor="middle"'));
        });
        parts.push(text(x0 + panelWidth / 2, y0 + panelHeight + 40, input.groupLabel, 'font-size="13" text-anchor="middle"'));
        const cy = y0 + panelHeight / 2;
        parts.push(text(x0 - 58, cy, panel.yLabel, `font-size="13" text-anchor="middle" transform="rotate(-90 ${x0 - 58} ${cy})"`));
    });
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>`;
}
