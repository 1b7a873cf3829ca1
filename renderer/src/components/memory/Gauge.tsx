// One labelled bar: a value against a capacity, or segments that add up to a total.
import { percent } from '../../format.ts';

export interface Segment {
    label: string;
    value: number;
    tone: 'accent' | 'accent-2' | 'muted' | 'warn';
}

interface GaugeProps {
    label: string;
    /** The headline, e.g. "1.2 GiB of 8.0 GiB". */
    value: string;
    segments: Segment[];
    /** What the bar's full width stands for; the segments' sum when absent. */
    capacity?: number;
    caption?: string;
    testId: string;
}

export function Gauge({ label, value, segments, capacity, caption, testId }: GaugeProps) {
    const whole = capacity ?? segments.reduce((sum, s) => sum + s.value, 0);
    return (
        <div className="gauge" data-testid={testId}>
            <div className="gauge-head">
                <span className="gauge-label">{label}</span>
                <span className="gauge-value" data-testid={`${testId}-value`}>{value}</span>
            </div>
            <div className="gauge-track" role="img" aria-label={`${label}: ${value}`}>
                {segments.map((segment) => (
                    <div
                        key={segment.label}
                        className={`gauge-fill gauge-${segment.tone}`}
                        style={{ width: `${percent(segment.value, whole)}%` }}
                        title={segment.label}
                    />
                ))}
            </div>
            {caption != null && <div className="gauge-caption">{caption}</div>}
        </div>
    );
}
