// Does pushing live memory stats make the chat stutter? Streams replies with the push on
// (every 400 ms) and off, through the real engine host, and compares decoding speed and the
// gaps between streamed chunks. Writes bench/results/cpu-organism-live-stats/live-stats.json:
//   node bench/liveStats.ts [--seconds 4] [--rounds 3]
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { HELP_OPTION, helpText, type CliSpec } from '../common/cliHelp.ts';
import type { EventEnvelope } from '../common/contract.ts';
import { spawnNodeHost } from '../backend/host/nodeHost.ts';
import { EngineSupervisor } from '../backend/host/supervisor.ts';
import { ORGANISM } from '../test/support/models.ts';
import { runCli } from './cliArgs.ts';

const out = fileURLToPath(new URL('./results/cpu-organism-live-stats/', import.meta.url));

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;

interface Run {
    chunks: number;
    chunksPerSecond: number;
    gapMs: { p50: number; p95: number; p99: number; max: number };
    statsPerSecond: number;
    engineTokensPerSecond: number | null;
}

/** An engine host with the live push every `intervalMs` (0 = off), and a way to time one reply of `seconds` on it. */
async function startEngine(intervalMs: number, seconds: number) {
    process.env.HEADROOM_LIVE_STATS_MS = String(intervalMs); // read by the host it spawns
    const chunkTimes: number[] = [];
    let statsCount = 0;
    let lastSpeed: number | null = null;
    const supervisor = new EngineSupervisor(spawnNodeHost, (event: EventEnvelope) => {
        if (event.name === 'chat.chunk') chunkTimes.push(performance.now());
        if (event.name === 'memory.stats' && (event.payload).generating) {
            statsCount++;
            lastSpeed = (event.payload).tokensPerSecond;
        }
    });
    await supervisor.load({ path: ORGANISM, contextSize: 4096 });
    let round = 0;
    return {
        supervisor,
        async run(): Promise<Run> {
            chunkTimes.length = 0;
            statsCount = 0;
            // Outside its passkey task the organism writes documentation until stopped.
            const reply = supervisor.generate({ generationId: `b${round++}`, documents: [], history: [], prompt: 'Describe the license of this package in detail.' });
            await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
            await supervisor.stopGeneration({});
            await reply;
            const gaps = chunkTimes.slice(1).map((t, i) => t - (chunkTimes[i] ?? t)).sort((a, b) => a - b);
            const span = ((chunkTimes.at(-1) ?? 0) - (chunkTimes[0] ?? 0)) / 1000;
            return {
                chunks: chunkTimes.length,
                chunksPerSecond: chunkTimes.length / span,
                gapMs: { p50: quantile(gaps, 0.5), p95: quantile(gaps, 0.95), p99: quantile(gaps, 0.99), max: gaps.at(-1) ?? 0 },
                statsPerSecond: statsCount / span,
                engineTokensPerSecond: lastSpeed,
            };
        },
    };
}

const SPEC = {
    command: 'node bench/liveStats.ts',
    summary: 'Streams organism replies through the real engine host with the live memory stats pushed every 400 ms and not at all, and compares decoding speed and the gaps between chunks; writes bench/results/cpu-organism-live-stats/live-stats.json.',
    options: {
        seconds: { type: 'string', default: '4', value: '<s>', help: 'how long each reply streams' },
        rounds: { type: 'string', default: '3', value: '<n>', help: 'replies on each side, alternated' },
        help: HELP_OPTION,
    },
} as const satisfies CliSpec;

runCli(async () => {
    const { values } = parseArgs({ options: SPEC.options });
    if (values.help === true) return void process.stdout.write(helpText(SPEC));
    const seconds = Number(values.seconds);
    const rounds = Number(values.rounds);
    // Both hosts loaded up front and rounds alternated, so drift in machine load hits both alike.
    const engineOff = await startEngine(0, seconds);
    const engineOn = await startEngine(400, seconds);
    const off: Run[] = [];
    const on: Run[] = [];
    for (let i = 0; i < rounds; i++) {
        off.push(await engineOff.run());
        on.push(await engineOn.run());
    }
    engineOff.supervisor.dispose();
    engineOn.supervisor.dispose();
    const median = (runs: Array<{ chunksPerSecond: number }>) => [...runs].map((r) => r.chunksPerSecond).sort((a, b) => a - b)[Math.floor(runs.length / 2)] ?? 0;
    const result = {
        model: path.basename(ORGANISM),
        secondsPerRound: seconds,
        rounds,
        pushOff: off,
        pushEvery400ms: on,
        medianChunksPerSecond: { off: median(off), on: median(on) },
        slowdown: 1 - median(on) / median(off),
    };
    await mkdir(out, { recursive: true });
    await writeFile(path.join(out, 'live-stats.json'), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify({ medianChunksPerSecond: result.medianChunksPerSecond, slowdown: result.slowdown, statsPerSecond: on.map((r) => r.statsPerSecond) })}\n`);
});
