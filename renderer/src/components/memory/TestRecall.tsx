// "Test recall": a short needle-in-a-haystack on the loaded model, full cache against the head
// plan it runs, drawn as the same depth × length heatmaps `npm run niah` writes, so a user sees
// what compression costs them; then follow-up questions (`npm run eval`'s multi-query task:
// several questions asked in turn about one document), said in one line. A heatmap opens larger
// in a dialog.
import { useRef, useState } from 'react';
import type { ModelInfo, RecallResult } from '../../../../common/contract.ts';
import { niahHeatmapSvg, type NiahResult } from '../../../../common/niah.ts';
import { percent } from '../../format.ts';
import { useRecallStore } from '../../stores/recallStore.ts';
import { JobProgress } from './JobProgress.tsx';

const svgUrl = (svg: string) => `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;

function cacheName(result: NiahResult): string {
    if (result.kv.mode === 'off') return 'Full cache';
    return result.fullHeads != null ? `Compressed, ${result.fullHeads}/${result.totalHeads} heads full` : 'Compressed';
}

function Heatmap({ result, onOpen }: { result: NiahResult; onOpen: (result: NiahResult) => void }) {
    const title = `${cacheName(result)}: ${Math.round(result.accuracy * 100)}%`;
    return (
        <figure className="recall-map" data-testid="recall-heatmap" data-cache={result.kv.mode === 'off' ? 'full' : 'compressed'}>
            <button type="button" className="recall-map-open" onClick={() => onOpen(result)} aria-label={`${title}: open larger`}>
                <img src={svgUrl(niahHeatmapSvg(result, title))} alt={`${title} of needles found, by needle depth and context length`} />
            </button>
        </figure>
    );
}

/** "Follow-up questions answered: full cache 75%, compressed 75% (3 chats, 4 questions each, asked in turn about one document)." */
function followUpsLine(followUps: NonNullable<RecallResult['followUps']>): string {
    const chats = new Set(followUps.full.answers.map((a) => `${a.contextTokens}|${a.chat}`)).size;
    const perChat = chats === 0 ? 0 : Math.round(followUps.full.answers.length / chats);
    const compressed = followUps.compressed != null ? `, compressed ${Math.round(followUps.compressed.accuracy * 100)}%` : '';
    return `Follow-up questions answered: full cache ${Math.round(followUps.full.accuracy * 100)}%${compressed} (${chats} chat${chats === 1 ? '' : 's'}, ${perChat} questions each, asked in turn about one document).`;
}

export function TestRecall({ model }: { model: ModelInfo }) {
    const running = useRecallStore((s) => s.running);
    const progress = useRecallStore((s) => s.progress);
    const result = useRecallStore((s) => (s.result?.path === model.path ? s.result : null));
    const error = useRecallStore((s) => s.error);
    const cancelled = useRecallStore((s) => s.cancelled);
    const run = useRecallStore((s) => s.run);
    const cancel = useRecallStore((s) => s.cancel);
    const dialog = useRef<HTMLDialogElement>(null);
    const [enlarged, setEnlarged] = useState<NiahResult | null>(null);
    const open = (shown: NiahResult) => {
        setEnlarged(shown);
        dialog.current?.showModal();
    };
    const share = progress == null ? 0 : percent(progress.done, progress.total);

    return (
        <div className="test-recall" data-testid="test-recall">
            {running ? (
                <JobProgress
                    label="Testing recall" testId="recall-progress" share={share} onCancel={() => void cancel()}
                    text={`Testing recall${progress != null ? ` ${progress.done} / ${progress.total} · ${progress.cache === 'full' ? 'full cache' : 'compressed'}, ${progress.contextTokens.toLocaleString('en-US')} tokens${progress.task === 'multiquery' ? ', follow-ups' : ''}` : '…'}`}
                />
            ) : (
                <button type="button" className="button" onClick={() => void run(model.path)} title="A short needle-in-a-haystack at a few lengths and depths, and follow-up questions about one document, with the full cache and with this plan">
                    {result == null ? 'Test recall' : 'Test recall again'}
                </button>
            )}
            {result != null && !running && (
                <>
                    <p className="muted" data-testid="recall-summary">
                        Needles found: full cache {Math.round(result.full.accuracy * 100)}%
                        {result.compressed != null ? `, compressed ${Math.round(result.compressed.accuracy * 100)}%.` : '. This model runs the full cache, so there is nothing to compare.'}
                    </p>
                    <div className="recall-maps">
                        <Heatmap result={result.full} onOpen={open} />
                        {result.compressed != null && <Heatmap result={result.compressed} onOpen={open} />}
                    </div>
                    {result.followUps != null && <p className="muted" data-testid="recall-follow-ups">{followUpsLine(result.followUps)}</p>}
                </>
            )}
            {cancelled && !running && <p className="muted">Test recall was cancelled.</p>}
            {error != null && !running && <p className="field-error" role="alert">{error}</p>}
            <dialog ref={dialog} className="recall-dialog" aria-label="Recall heatmap" onClose={() => setEnlarged(null)}>
                {enlarged != null && <img src={svgUrl(niahHeatmapSvg(enlarged))} alt={`${cacheName(enlarged)}: ${Math.round(enlarged.accuracy * 100)}% of needles found`} />}
                <form method="dialog"><button type="submit" className="button">Close</button></form>
            </dialog>
        </div>
    );
}
