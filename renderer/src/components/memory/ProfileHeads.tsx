// "Profile heads": scores the loaded model's KV heads once (a minute or so on a small model),
// so that compression keeps the heads that retrieve. The result is stored by the model file's
// hash and used by every later load with compression on.
import { useProfileStore } from '../../stores/profileStore.ts';

export function ProfileHeads({ modelPath, hasProfile }: { modelPath: string; hasProfile: boolean }) {
    const running = useProfileStore((s) => s.running);
    const progress = useProfileStore((s) => s.progress);
    const result = useProfileStore((s) => (s.result?.path === modelPath ? s.result : null));
    const error = useProfileStore((s) => s.error);
    const profile = useProfileStore((s) => s.profile);
    const busy = running != null;
    return (
        <div className="profile-heads" data-testid="profile-heads">
            {busy ? (
                <div className="profile-progress" role="status">
                    <span>Scoring heads{progress != null ? ` ${progress.done} / ${progress.total}` : '…'}</span>
                    <span className="mini-progress" role="progressbar" aria-label="Scoring heads" aria-valuemin={0} aria-valuemax={progress?.total ?? 1} aria-valuenow={progress?.done ?? 0}>
                        <span style={{ width: `${progress == null ? 0 : (100 * progress.done) / progress.total}%` }} />
                    </span>
                </div>
            ) : (
                <button type="button" className="button" onClick={() => void profile(modelPath, hasProfile)}>
                    {hasProfile ? 'Profile heads again' : 'Profile heads'}
                </button>
            )}
            {result != null && !busy && (
                <p className="muted" data-testid="profile-result">
                    {result.reused ? 'Profile already stored' : 'Profile saved'}: retrieval heads {result.topHeads.slice(0, 3).map((h) => `L${h.layer}·H${h.head}`).join(', ')};
                    {' '}recommended budget {Math.round(result.recommendedBudget * 100)}%. Compression uses it from the next load.
                </p>
            )}
            {error != null && !busy && <p className="field-error" role="alert">{error}</p>}
        </div>
    );
}
