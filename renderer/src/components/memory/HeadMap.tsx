// Layers × KV heads: each head's policy (colour), placement (GPU solid, CPU RAM hatched)
// and profile score, with a legend and a tooltip. Cell height shrinks with the layer count
// so 4 to 80 layers stay readable in the same space.
import { memo, useId, useState } from 'react';
import type { HeadCell, KvUsage } from '../../../../common/kv/usage.ts';
import { formatBytes } from '../../format.ts';

const MAX_HEIGHT = 320;
const MAX_CELL = 26;
const MIN_CELL = 4;
const LABEL_WIDTH = 30;

interface Hover {
    layer: number;
    head: number;
    cell: HeadCell;
    x: number;
    y: number;
}

/** Memoised: stats arrive several times a second, the head map changes only with the cache. */
export const HeadMap = memo(function HeadMap({ kv }: { kv: KvUsage }) {
    const [hover, setHover] = useState<Hover | null>(null);
    const patternId = useId().replace(/:/g, '');
    const { layers, kvHeads } = kv;
    if (layers === 0 || kvHeads === 0) return <p className="muted">This model has no attention heads to show.</p>;
    const cellHeight = Math.max(MIN_CELL, Math.min(MAX_CELL, Math.floor(MAX_HEIGHT / layers)));
    const gap = cellHeight >= 10 ? 2 : 1;
    const width = 260;
    const cellWidth = (width - LABEL_WIDTH - gap * (kvHeads - 1)) / kvHeads;
    const height = layers * (cellHeight + gap);
    // Label every layer when they are tall enough, otherwise every 5th or 10th.
    const labelEvery = cellHeight >= 12 ? 1 : layers <= 40 ? 5 : 10;
    const hasScores = kv.heads.some((row) => row.some((cell) => cell.score != null));
    const counts = { full: 0, streaming: 0, window: 0, gpu: 0, cpu: 0 };
    for (const cell of kv.heads.flat()) {
        counts[cell.policy]++;
        counts[cell.placement]++;
    }

    return (
        <div className="head-map" data-testid="head-map" data-layers={layers} data-kv-heads={kvHeads}>
            <div className="head-map-axis">KV head →</div>
            <div className="head-map-plot">
                <svg
                    width={width} height={height + 16} viewBox={`0 0 ${width} ${height + 16}`}
                    role="img" aria-label={`Head map: ${layers} layers × ${kvHeads} KV heads; ${counts.full} full, ${counts.streaming} streaming${counts.window > 0 ? `, ${counts.window} in the model's window layers` : ''}`}
                    onMouseLeave={() => setHover(null)}
                >
                    <defs>
                        {(['full', 'streaming', 'window'] as const).map((policy) => (
                            <pattern key={policy} id={`${patternId}-${policy}`} width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
                                <rect width="4" height="4" className={`hatch-bg head-${policy}`} />
                                <line x1="0" y1="0" x2="0" y2="4" className="hatch-line" />
                            </pattern>
                        ))}
                    </defs>
                    {Array.from({ length: kvHeads }, (_, head) => (
                        <text key={`h${head}`} x={LABEL_WIDTH + head * (cellWidth + gap) + cellWidth / 2} y={11} className="head-map-label" textAnchor="middle">{head}</text>
                    ))}
                    {kv.heads.map((row, layer) => (
                        <g key={layer} transform={`translate(0 ${16 + layer * (cellHeight + gap)})`}>
                            {(layer % labelEvery === 0) && (
                                <text x={LABEL_WIDTH - 6} y={Math.min(cellHeight, 10)} className="head-map-label" textAnchor="end" dominantBaseline="middle">{layer}</text>
                            )}
                            {row.map((cell, head) => (
                                <rect
                                    key={head}
                                    data-testid="head-cell"
                                    data-policy={cell.policy}
                                    data-placement={cell.placement}
                                    x={LABEL_WIDTH + head * (cellWidth + gap)} width={cellWidth} height={cellHeight} rx={cellHeight >= 8 ? 2 : 0}
                                    className={`head head-${cell.placement}${cell.placement === 'gpu' ? ` head-${cell.policy}` : ''}${hover?.layer === layer && hover.head === head ? ' head-hover' : ''}`}
                                    fill={cell.placement === 'cpu' ? `url(#${patternId}-${cell.policy})` : undefined}
                                    fillOpacity={cell.score == null ? 1 : 0.45 + 0.55 * clamp01(cell.score)}
                                    onMouseEnter={(event) => setHover({ layer, head, cell, x: event.nativeEvent.offsetX, y: event.nativeEvent.offsetY })}
                                />
                            ))}
                        </g>
                    ))}
                </svg>
                {hover != null && (
                    <div className="head-tooltip" role="tooltip" data-testid="head-tooltip" style={{ left: Math.min(hover.x + 12, 150), top: hover.y + 12 }}>
                        <strong>Layer {hover.layer}, KV head {hover.head}</strong>
                        <div>{POLICY_TEXT[hover.cell.policy]}</div>
                        <div>{hover.cell.placement === 'gpu' ? 'On the GPU, attended there' : 'In CPU RAM, attended by the CPU'} · {formatBytes(hover.cell.bytes)}</div>
                        <div>Profile score: {hover.cell.score == null ? 'not profiled' : hover.cell.score.toFixed(3)}</div>
                    </div>
                )}
            </div>
            <ul className="head-legend" aria-label="Legend">
                <li><span className="swatch head-full head-gpu" /> full ({counts.full})</li>
                <li><span className="swatch head-streaming head-gpu" /> streaming ({counts.streaming})</li>
                {counts.window > 0 && <li><span className="swatch head-window head-gpu" /> window layer ({counts.window})</li>}
                <li><span className="swatch swatch-solid" /> on GPU ({counts.gpu})</li>
                <li><span className="swatch swatch-hatch" /> in CPU RAM ({counts.cpu})</li>
                <li className="muted">{hasScores ? 'Stronger colour = higher profile score' : 'No head profile yet: scores unknown'}</li>
            </ul>
        </div>
    );
});

const POLICY_TEXT: Record<HeadCell['policy'], string> = {
    full: 'Full: keeps every token',
    streaming: 'Streaming: sinks + recent window',
    window: 'Window layer: the model attends it through its own sliding window',
};

function clamp01(value: number): number {
    return Math.max(0, Math.min(1, value));
}
