// "Profile heads": scores the loaded model's KV heads and validates a budget (minutes on a small
// model), so that compression keeps the heads that retrieve. Offered on the model card when a
// model loads without a profile (with the time it would take here), and under the head map to
// run again. The result is stored by the model file's hash; a reload compresses with it.
import { useEffect } from 'react';
import type { ModelInfo } from '../../../../common/contract.ts';
import { formatDuration, percent } from '../../format.ts';
import { useEngineStore } from '../../stores/engineStore.ts';
import { useProfileStore } from '../../stores/profileStore.ts';
import { JobProgress } from './JobProgress.tsx';

const STAGE_TEXT = { loading: 'Loading the model', scoring: 'Scoring heads', validating: 'Checking budgets on held-out prompts' } as const;

/** Whether a loaded model should be offered a profile: compression is wanted and possible, but it has none. */
export function needsProfile(model: ModelInfo): boolean {
    return model.kvMode === 'auto' && model.kv.available && model.headProfile == null;
}

function Running() {
    const progress = useProfileStore((s) => s.progress);
    const cancel = useProfileStore((s) => s.cancel);
    const share = progress == null ? 0 : percent(progress.done, progress.total);
    const eta = progress?.etaSeconds;
    const text = progress == null ? 'Starting…'
        : `${STAGE_TEXT[progress.stage]} · ${Math.round(share)}%${eta != null && progress.stage !== 'loading' ? ` · ${formatDuration(eta)} left` : ''}`;
    return <JobProgress label="Profiling heads" text={text} share={share} testId="profile-progress" onCancel={() => void cancel()} />;
}

export function ProfileHeads({ model, variant }: { model: ModelInfo; variant: 'offer' | 'again' }) {
    const running = useProfileStore((s) => s.running);
    const result = useProfileStore((s) => (s.result?.path === model.path ? s.result : null));
    const error = useProfileStore((s) => s.error);
    const cancelled = useProfileStore((s) => s.cancelled);
    const estimate = useProfileStore((s) => (s.estimate?.path === model.path ? s.estimate.value : null));
    const profile = useProfileStore((s) => s.profile);
    const estimateFor = useProfileStore((s) => s.estimateFor);
    const reload = useEngineStore((s) => s.loadModel);
    const busy = running != null;

    useEffect(() => {
        if (variant === 'offer') void estimateFor(model.path, model.contextSize);
    }, [variant, model.path, model.contextSize, estimateFor]);

    // Measured again only over a profile the model has; otherwise a stored one is found and reused.
    const start = () => void profile(model.path, { force: model.headProfile != null, contextSize: model.contextSize });
    const validation = result?.validation ?? null;
    return (
        <div className={variant === 'offer' ? 'note note-action profile-heads' : 'profile-heads'} data-testid={variant === 'offer' ? 'profile-offer' : 'profile-heads'}>
            {variant === 'offer' && (
                <p>
                    This model has no head profile yet, so it runs on the full cache. Profiling its heads
                    {estimate != null ? ` takes ${formatDuration(estimate.seconds)} here` : ' takes a few minutes'} and lets compression keep the ones that retrieve.
                </p>
            )}
            {busy ? <Running /> : (result == null || variant === 'again') && (
                <button type="button" className={variant === 'offer' ? 'button button-primary' : 'button'} onClick={start}>
                    {model.headProfile != null ? 'Profile heads again' : 'Profile heads'}
                </button>
            )}
            {result != null && !busy && (
                <div className="profile-result" data-testid="profile-result">
                    <p className="muted">
                        {result.reused ? 'Profile already stored' : 'Profile saved'}: top heads {result.topHeads.slice(0, 3).map((h) => `L${h.layer}·H${h.head} (${h.score.toFixed(2)})`).join(', ')};
                        {' '}keeps the {result.fullHeads} best of {result.totalHeads} heads full at any context length
                        {validation != null ? ` (${Math.round(result.recommendedBudget * 100)}% of the cache at ${validation.contextTokens.toLocaleString('en-US')} tokens)` : ''}
                        {validation?.verdict === 'validated'
                            ? `, checked on held-out prompts at ${validation.contextTokens.toLocaleString('en-US')} tokens (full cache ${Math.round(validation.fullAccuracy * 100)}%).`
                            : ' (not validated: the full cache found no needle).'}
                    </p>
                    {model.headProfile == null && (
                        <button type="button" className="button button-small" onClick={() => void reload(model.path)}>Reload to compress</button>
                    )}
                </div>
            )}
            {cancelled && !busy && <p className="muted" data-testid="profile-cancelled">Profiling was cancelled; nothing was stored.</p>}
            {error != null && !busy && <p className="field-error" role="alert">{error}</p>}
        </div>
    );
}
