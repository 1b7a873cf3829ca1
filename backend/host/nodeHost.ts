// Starts the engine host as a plain Node child process (web mode, CLI tools, tests).
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stderrTail, type HostExit, type HostProcess } from './hostProcess.ts';

const HOST_ENTRY = fileURLToPath(new URL('../../engine/host.ts', import.meta.url));

/** A host with extra environment (e.g. which llama.cpp build it loads), or the parent's. */
export function spawnNodeHost(env: NodeJS.ProcessEnv = {}): HostProcess {
    const child = fork(HOST_ENTRY, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, ...env } });
    const tail = stderrTail();
    // The host's output is diagnostics: keep it off our stdout, which CLIs use for results.
    child.stdout?.pipe(process.stderr);
    child.stderr?.on('data', (chunk: Buffer) => tail.add(chunk));
    return {
        pid: child.pid ?? null,
        send: (message) => {
            if (child.connected) child.send(message as object);
        },
        onMessage: (listener) => child.on('message', listener),
        // close, not exit: it fires once stderr is drained, so the tail is complete.
        onExit: (listener: (exit: HostExit) => void) => {
            child.on('close', (code, signal) => listener({ code, signal, stderrTail: tail.text }));
        },
        kill: () => {
            child.kill('SIGKILL');
        },
    };
}
