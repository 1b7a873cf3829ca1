// Starts the engine host as a plain Node child process (web mode, CLI tools, tests).
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { HostExit, HostProcess } from './supervisor.ts';

const HOST_ENTRY = fileURLToPath(new URL('../../engine/host.ts', import.meta.url));
const STDERR_TAIL_BYTES = 8192;

export function spawnNodeHost(): HostProcess {
    const child = fork(HOST_ENTRY, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    // The host's output is diagnostics: keep it off our stdout, which CLIs use for results.
    child.stdout!.pipe(process.stderr);
    let stderrTail = '';
    child.stderr!.on('data', (chunk: Buffer) => {
        process.stderr.write(chunk);
        stderrTail = (stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    return {
        pid: child.pid ?? null,
        send: (message) => {
            if (child.connected) child.send(message as object);
        },
        onMessage: (listener) => child.on('message', listener),
        // close, not exit: it fires once stderr is drained, so the tail is complete.
        onExit: (listener: (exit: HostExit) => void) => {
            child.on('close', (code, signal) => listener({ code, signal, stderrTail }));
        },
        kill: () => {
            child.kill('SIGKILL');
        },
    };
}
