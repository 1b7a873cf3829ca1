// The right-hand column: live gauges, the head map and the planner, wired to the stores.
import { useEngineStore } from '../stores/engineStore.ts';
import { useMemoryStore } from '../stores/memoryStore.ts';
import { HeadMap } from './memory/HeadMap.tsx';
import { MemoryGauges } from './memory/MemoryGauges.tsx';
import { MemoryPlanner } from './memory/MemoryPlanner.tsx';
import { needsProfile, ProfileHeads } from './memory/ProfileHeads.tsx';
import { TestRecall } from './memory/TestRecall.tsx';

export function MemoryAside() {
    const stats = useMemoryStore((s) => s.stats);
    const plan = useMemoryStore((s) => s.plan);
    const planning = useMemoryStore((s) => s.planning);
    const planError = useMemoryStore((s) => s.planError);
    const fit = useMemoryStore((s) => s.fit);
    const fitTo = useMemoryStore((s) => s.fitTo);
    const applyFit = useMemoryStore((s) => s.applyFit);
    const model = useEngineStore((s) => s.engine?.model ?? null);
    const contextChoice = useEngineStore((s) => s.engine?.load?.context.summary ?? null);
    const loadedPath = model?.path ?? null;
    // Predicted vs actual only when the planned model is the loaded one.
    // Before a model is loaded, the plan's heads show what loading would give.
    const headKv = stats?.kv ?? plan?.kv ?? null;
    const loaded = plan != null && plan.model.path === loadedPath ? stats?.loaded ?? null : null;
    return (
        <aside className="memory-aside" aria-label="Memory">
            <section className="panel" aria-labelledby="gauges-heading">
                <h2 id="gauges-heading" className="panel-title">Memory</h2>
                <MemoryGauges stats={stats} ramTotalBytes={plan?.machine.ramTotal} contextChoice={contextChoice} />
            </section>
            {headKv != null && (
                <section className="panel" aria-labelledby="heads-heading">
                    <h2 id="heads-heading" className="panel-title">{stats?.kv != null ? 'KV heads' : 'KV heads (planned)'}</h2>
                    <HeadMap kv={headKv} />
                    {/* A model without a profile is offered one on its card; here it can be measured again. */}
                    {model != null && model.kv.available && !needsProfile(model) && <ProfileHeads model={model} variant="again" />}
                    {model != null && <TestRecall model={model} />}
                </section>
            )}
            <section className="panel" aria-labelledby="planner-heading">
                <h2 id="planner-heading" className="panel-title">Memory planner</h2>
                <MemoryPlanner plan={plan} planning={planning} error={planError} fit={fit} loaded={loaded} onFit={(goal) => void fitTo(goal)} onApplyFit={() => void applyFit()} />
            </section>
        </aside>
    );
}
