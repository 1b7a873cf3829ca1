// The planner: predicted GPU and CPU memory for weights, KV cache and compute buffers at the
// chosen settings, whether that fits this machine, "fit to my machine", and after a load
// the prediction next to what llama.cpp actually allocated. Pure: data in, actions out.
import type { MemoryStats } from '../../../../common/contract.ts';
import type { FitResult, MemoryPlan } from '../../../../common/plan.ts';
import { formatBytes, formatTokens } from '../../format.ts';

interface MemoryPlannerProps {
    plan: MemoryPlan | null;
    planning: boolean;
    error: string | null;
    fit: FitResult | null;
    /** What the loaded model really took, when it is the model planned. */
    loaded: MemoryStats['loaded'];
    onFit: (goal: 'context' | 'compression') => void;
    onApplyFit: () => void;
}

function deviation(predicted: number, actual: number): string {
    if (actual === 0) return predicted === 0 ? '±0%' : '—';
    const delta = ((predicted - actual) / actual) * 100;
    if (Math.abs(delta) < 0.05) return '±0%';
    return `${delta >= 0 ? '+' : '−'}${Math.abs(delta).toFixed(Math.abs(delta) < 10 ? 1 : 0)}%`;
}

export function MemoryPlanner({ plan, planning, error, fit, loaded, onFit, onApplyFit }: MemoryPlannerProps) {
    if (error != null) return <p className="field-error" role="alert" data-testid="planner-error">{error}</p>;
    if (plan == null) return <p className="muted" data-testid="planner-empty">{planning ? 'Planning…' : 'Type a model path or load a model to see what it needs.'}</p>;
    const { predicted, machine } = plan;
    const gpuLabel = machine.gpu === false ? 'no GPU' : `${formatBytes(machine.vramFree)} free of ${formatBytes(machine.vramTotal)}`;
    const rows: Array<[string, { gpu: number; cpu: number }]> = [
        ['Weights', predicted.weights],
        ['KV cache', predicted.kvBytes],
        ['Compute', predicted.computeBytes],
    ];
    return (
        <div className="planner" data-testid="memory-planner" aria-busy={planning}>
            <div className={`fit-badge ${predicted.fits ? 'fit-yes' : 'fit-no'}`} data-testid="planner-fits">
                {predicted.fits ? 'Fits this machine' : 'Does not fit this machine'}
            </div>
            <div className="planner-summary">
                {plan.model.name} · {formatTokens(plan.contextSize)} tokens · {plan.budget == null ? 'full cache' : `${Math.round(plan.budget * 100)}% cache budget`} · {plan.gpuLayers}/{plan.model.layers} layers on GPU
            </div>
            <table className="planner-table">
                <thead>
                    <tr><th scope="col">Predicted</th><th scope="col">GPU</th><th scope="col">CPU RAM</th></tr>
                </thead>
                <tbody>
                    {rows.map(([label, bytes]) => (
                        <tr key={label}><th scope="row">{label}</th><td>{formatBytes(bytes.gpu)}</td><td>{formatBytes(bytes.cpu)}</td></tr>
                    ))}
                    <tr className="planner-total" data-testid="planner-total">
                        <th scope="row">Total</th><td>{formatBytes(predicted.gpuBytes)}</td><td>{formatBytes(predicted.cpuBytes)}</td>
                    </tr>
                    <tr className="planner-machine">
                        <th scope="row">This machine</th><td>{gpuLabel}</td><td>{formatBytes(machine.ramFree)} free</td>
                    </tr>
                </tbody>
            </table>
            {plan.offload != null && (
                <p className="planner-offload note" data-testid="planner-offload" title={plan.offload.cost?.source}>{plan.offload.note}</p>
            )}
            {plan.notes.length > 0 && (
                <ul className="planner-notes" data-testid="planner-notes">{plan.notes.map((note) => <li key={note}>{note}</li>)}</ul>
            )}
            <div className="planner-actions">
                <button type="button" className="button" onClick={() => onFit('context')} disabled={planning}>Fit: largest context</button>
                <button type="button" className="button" onClick={() => onFit('compression')} disabled={planning}>Fit: least compression</button>
            </div>
            {fit != null && (
                <div className="planner-fit" data-testid="planner-fit" role="status">
                    <span>{fit.message}</span>
                    {fit.request != null && <button type="button" className="link-button" onClick={onApplyFit}>Use these settings</button>}
                </div>
            )}
            {loaded != null && loaded.predicted != null && (
                <table className="planner-table planner-actual" data-testid="planner-actual">
                    <caption>Loaded model: predicted vs actual (from llama.cpp)</caption>
                    <thead>
                        <tr><th scope="col" /><th scope="col">Predicted</th><th scope="col">Actual</th><th scope="col">Δ</th></tr>
                    </thead>
                    <tbody>
                        {([['KV cache', loaded.predicted.kvBytes, loaded.actual.kv], ['Weights', loaded.predicted.weights, loaded.actual.weights], ['Compute', loaded.predicted.computeBytes, loaded.actual.compute]] as const).map(([label, p, a]) => (
                            <tr key={label} data-testid={`actual-${label.toLowerCase().replace(' ', '-')}`}>
                                <th scope="row">{label}</th>
                                <td>{formatBytes(p.gpu + p.cpu)}</td>
                                <td>{formatBytes(a.gpu + a.cpu)}</td>
                                <td>{deviation(p.gpu + p.cpu, a.gpu + a.cpu)}</td>
                            </tr>
                        ))}
                    </tbody>
                </table>
            )}
        </div>
    );
}
