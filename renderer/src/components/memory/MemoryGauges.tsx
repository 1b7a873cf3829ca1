// Live memory: GPU, the engine's RAM, the KV cache by device and by policy, context use
// and generation speed. Pure: it shows the snapshot it is given.
import type { MemoryStats } from '../../../../common/contract.ts';
import { formatBytes, formatTokens } from '../../format.ts';
import { Gauge } from './Gauge.tsx';

interface MemoryGaugesProps {
    stats: MemoryStats | null;
    /** The machine's RAM, when known (from the planner), to scale the RAM bar. */
    ramTotalBytes?: number;
    /** How the loaded context's size was chosen ("Automatic: the longest that fits here with compression: 65,536 tokens."). */
    contextChoice?: string | null;
}

export function MemoryGauges({ stats, ramTotalBytes, contextChoice }: MemoryGaugesProps) {
    if (stats == null) return <p className="muted" data-testid="gauges-empty">Memory appears once the engine is running.</p>;
    const { gpu, kv, context } = stats;
    return (
        <div className="gauges" data-testid="memory-gauges" data-generating={stats.generating}>
            {gpu.available ? (
                <Gauge
                    testId="gauge-gpu" label={`GPU memory (${gpu.kind.toUpperCase()})`}
                    value={`${formatBytes(gpu.usedBytes)} of ${formatBytes(gpu.totalBytes)}`}
                    segments={[{ label: 'used', value: gpu.usedBytes, tone: 'accent' }]} capacity={gpu.totalBytes}
                />
            ) : (
                <div className="gauge gauge-none" data-testid="gauge-gpu">
                    <div className="gauge-head"><span className="gauge-label">GPU memory</span></div>
                    <div className="gauge-caption" data-testid="gauge-gpu-value">{gpu.reason}</div>
                </div>
            )}
            <Gauge
                testId="gauge-ram" label="Engine RAM"
                value={ramTotalBytes != null ? `${formatBytes(stats.processRamBytes)} of ${formatBytes(ramTotalBytes)}` : formatBytes(stats.processRamBytes)}
                segments={[{ label: 'engine process', value: stats.processRamBytes, tone: 'accent' }]}
                capacity={ramTotalBytes ?? stats.processRamBytes}
            />
            {kv != null && (
                <>
                    <Gauge
                        testId="gauge-kv-device" label="KV by device"
                        value={`${formatBytes(kv.gpu + kv.cpu)} · GPU ${formatBytes(kv.gpu)} · RAM ${formatBytes(kv.cpu)}`}
                        segments={[{ label: 'GPU', value: kv.gpu, tone: 'accent' }, { label: 'CPU RAM', value: kv.cpu, tone: 'accent-2' }]}
                        caption={kv.source === 'formula' ? 'Computed from the model\'s shape (layers × KV heads × head size, f16 = 2 bytes).' : 'Measured by the engine\'s cache.'}
                    />
                    <Gauge
                        testId="gauge-kv-policy" label="KV by policy"
                        value={`full ${formatBytes(kv.full)} · streaming ${formatBytes(kv.streaming)}`}
                        segments={[{ label: 'full heads', value: kv.full, tone: 'accent' }, { label: 'streaming heads', value: kv.streaming, tone: 'warn' }]}
                    />
                </>
            )}
            {context != null && (
                <Gauge
                    testId="gauge-context" label="Context"
                    value={`${formatTokens(context.usedTokens)} of ${formatTokens(context.capacityTokens)} tokens`}
                    segments={[{ label: 'used', value: context.usedTokens, tone: 'accent' }]} capacity={context.capacityTokens}
                    {...(contextChoice != null ? { caption: contextChoice } : {})}
                />
            )}
            <div className="gauge gauge-speed" data-testid="gauge-speed">
                <div className="gauge-head">
                    <span className="gauge-label">Generation speed</span>
                    <span className="gauge-value" data-testid="gauge-speed-value">
                        {stats.tokensPerSecond == null ? '—' : `${stats.tokensPerSecond.toFixed(1)} tokens/s`}
                    </span>
                </div>
                <div className="gauge-caption">{formatTokens(stats.generatedTokens)} tokens in {stats.generating ? 'this' : 'the last'} reply</div>
            </div>
        </div>
    );
}
