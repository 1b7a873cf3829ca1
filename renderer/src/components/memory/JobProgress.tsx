// A long job's progress (profiling heads, testing recall): what it is doing, a bar, and Cancel.
export function JobProgress({ label, text, share, testId, onCancel }: {
    /** What the bar measures, for screen readers. */
    label: string;
    text: string;
    /** Done, in percent. */
    share: number;
    testId: string;
    onCancel: () => void;
}) {
    return (
        <div className="job-progress" role="status" data-testid={testId}>
            <span>{text}</span>
            <div className="job-progress-row">
                <span className="mini-progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(share)}>
                    <span style={{ width: `${share}%` }} />
                </span>
                <button type="button" className="button button-small" onClick={onCancel}>Cancel</button>
            </div>
        </div>
    );
}
