// Entry of the engine host process: the only process that loads native llama.cpp code,
// so a native crash or out-of-memory takes down this process and never the window.
// Runs as an Electron utilityProcess in the app and as a Node child process in web mode.
import { hostContract, type HostEventEnvelope, type hostRequests } from '../common/contract.ts';
import { profileFullHeads, rankHeads } from '../common/kv/policy.ts';
import { dispatch, eventEnvelope, type Handlers } from '../common/rpc.ts';
import { Engine } from './engine.ts';
import { fitPublished } from './planner.ts';
import { profileModel } from './profiler/profileModel.ts';
import { testRecall } from './recall.ts';

interface ParentChannel {
    send: (message: unknown) => void;
    onMessage: (listener: (message: unknown) => void) => void;
}

function connectToParent(): ParentChannel {
    const parentPort = (process as { parentPort?: Electron.ParentPort }).parentPort;
    if (parentPort != null) {
        return {
            send: (message) => parentPort.postMessage(message),
            onMessage: (listener) => parentPort.on('message', (event) => listener(event.data)),
        };
    }
    const send = process.send?.bind(process);
    if (send == null) throw new Error('The engine host must be started by Headroom (no IPC channel).');
    return {
        send: (message) => send(message),
        onMessage: (listener) => process.on('message', listener),
    };
}

const parent = connectToParent();
const emit = (envelope: HostEventEnvelope) => parent.send(envelope);

const engine = new Engine({
    loadProgress: (path, progress) => emit(eventEnvelope('model.loadProgress', { path, progress })),
    chunk: (generationId, text) => emit(eventEnvelope('chat.chunk', { generationId, text })),
    memoryStats: (stats) => emit(eventEnvelope('memory.stats', stats)),
    prefill: (generationId, done, total) => emit(eventEnvelope('chat.prefill', { generationId, done, total })),
});

// Every request of the engine host's contract, and no other (the backend's own are common/uiContract.ts).
const handlers: Handlers<typeof hostRequests> = {
    'model.load': (params) => engine.load(params),
    'model.unload': async () => {
        await engine.unload();
        return {};
    },
    'model.loaded': async () => ({ model: engine.loadedModel }),
    'model.countTokens': async ({ texts }) => ({ tokens: engine.countTokens(texts) }),
    'generate.run': (params) => engine.generate(params),
    'generate.stop': async ({ generationId }) => ({ stopped: engine.stop(generationId) }),
    'engine.kvStats': () => engine.kvStats(),
    'memory.stats': () => engine.memoryStats(),
    'memory.plan': (params) => engine.plan(params),
    'memory.fit': ({ request, goal }) => engine.fit(request, goal),
    'memory.fitPublished': ({ models, kv }) => fitPublished(models, kv),
    'kv.profileEstimate': (params) => engine.estimateProfile(params),
    // Only in a host started for the job (backend/host/jobs.ts): its engine never loads a model.
    'kv.profile': async ({ path, force, prompts, tokens, contextSize, validationPrompts }) => {
        const run = await profileModel({
            modelPath: path, force, prompts, tokens, validationPrompts, ...(contextSize != null ? { contextTokens: contextSize } : {}),
            progress: ({ stage, done, total, etaSeconds }) => emit(eventEnvelope('kv.profileProgress', { path, stage, done, total, etaSeconds })),
        });
        const { profile } = run;
        return {
            file: run.path, reused: run.reused, ...(profile.method != null ? { method: profile.method } : {}),
            fullHeads: profileFullHeads(profile) ?? Math.ceil((profile.layers * profile.kvHeads) / 2), totalHeads: profile.layers * profile.kvHeads,
            recommendedBudget: profile.recommendedBudget, topHeads: rankHeads(profile.scores).slice(0, 4), validation: profile.validation ?? null,
        };
    },
    'recall.run': (params) => testRecall(params, ({ cache, task, contextTokens, depth, correct, done, total }) => emit(eventEnvelope('kv.recallProgress', {
        done, total, cache, task, contextTokens, depth, correct,
    }))),
};

parent.onMessage((message) => {
    void dispatch(hostContract, handlers, message).then((response) => parent.send(response));
});

// Without a parent there is nobody to serve: leave rather than linger as an orphan.
process.on('disconnect', () => process.exit(0));

emit(eventEnvelope('host.ready', { pid: process.pid }));
