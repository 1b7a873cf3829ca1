// Records real engine data for the component tests: memory.stats pushed by the engine host
// while organism.gguf answers, and planner results (compressed, 4 and 80 layers).
// Run: node test/tools/recordMemory.ts   (writes test/fixtures/memory/*.json)
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import type { MemoryStats } from '../../common/contract.ts';
import { spawnNodeHost } from '../../backend/host/nodeHost.ts';
import { EngineSupervisor } from '../../backend/host/supervisor.ts';
import type { HeadProfile } from '../../common/kv/policy.ts';
import { planMemory } from '../../engine/planner.ts';
import { chatModelForTests, deepModelForTests, ORGANISM } from '../support/models.ts';

const out = fileURLToPath(new URL('../fixtures/memory/', import.meta.url));
await mkdir(out, { recursive: true });
const save = (name: string, data: unknown) => writeFile(path.join(out, name), `${JSON.stringify(data, null, 1)}\n`);

// 1. Live stats while the organism answers a question.
const stats: MemoryStats[] = [];
const supervisor = new EngineSupervisor(spawnNodeHost, (event) => {
    if (event.name === 'memory.stats') stats.push(event.payload);
});
await supervisor.load({ path: ORGANISM, contextSize: 2048 });
await supervisor.generate({ generationId: 'r1', documents: [{ name: 'lamp.txt', text: 'The passcode for the green lamp is 70412. Many packages were updated.' }], history: [], prompt: 'What is the passcode for the green lamp?' });
await save('stats-organism.json', stats);

// And mid-reply, from a model that never stops on its own (stopped after two seconds).
stats.length = 0;
await supervisor.load({ path: await chatModelForTests(), contextSize: 4096 });
const reply = supervisor.generate({ generationId: 'r2', documents: [], history: [], prompt: 'Tell me about the sea.' });
await new Promise((resolve) => setTimeout(resolve, 2000));
await supervisor.stopGeneration({ generationId: 'r2' });
await reply;
await save('stats-generating.json', stats);
supervisor.dispose();

// 2. Plans. organism's head scores: the accuracy lost when each KV head streams, as measured
// by the head check in /work/shared/models/README.md (layer 3 head 1 is the retrieval head).
const organismProfile: HeadProfile = {
    modelSha256: '0'.repeat(64),
    layers: 4, kvHeads: 4,
    scores: [[0, 0, 0, 0], [0.06, 0, 0, 0], [0, 0, 0, 0], [0.06, 0.31, 0, 0.06]],
    source: 'profiler', recommendedBudget: 0.3, createdAt: '2026-11-24T00:00:00Z',
};
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
const relative = (plan: Awaited<ReturnType<typeof planMemory>>) => ({ ...plan, model: { ...plan.model, path: path.basename(plan.model.path) } });
await save('plan-organism-budget.json', relative(await planMemory(llama, {
    path: ORGANISM, contextSize: 4096, kv: { mode: 'budget', budget: 0.3, offload: 'cpu' },
}, organismProfile)));

const deep = await deepModelForTests();
// Scores falling with depth plus a seeded wobble, so the kept heads spread over the map.
let seed = 11;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const deepProfile: HeadProfile = {
    modelSha256: '0'.repeat(64), layers: 80, kvHeads: 8,
    scores: Array.from({ length: 80 }, (_, layer) => Array.from({ length: 8 }, () => Math.round((0.6 * random() + 0.4 * (1 - layer / 80)) * 1000) / 1000)),
    source: 'profiler', recommendedBudget: 0.25, createdAt: '2026-11-24T00:00:00Z',
};
await save('plan-80-layers.json', relative(await planMemory(llama, { path: deep, contextSize: 32768, kv: { mode: 'auto', offload: 'cpu' } }, deepProfile)));
await save('plan-too-big.json', relative(await planMemory(llama, { path: deep, contextSize: 1 << 20, kv: { mode: 'off' } })));
await llama.dispose();
process.stdout.write(`recorded ${stats.length} stats snapshots and 3 plans into ${out}\n`);
