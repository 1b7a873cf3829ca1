// Starts the engine host as an Electron utilityProcess: a separate OS process, so a native
// crash or out-of-memory in llama.cpp leaves the window running.
import path from 'node:path';
import { utilityProcess } from 'electron';
import { stderrTail, type HostExit, type HostProcess } from '../backend/host/hostProcess.ts';

export function spawnElectronHost(env: Record<string, string> = {}): HostProcess {
    const child = utilityProcess.fork(path.join(__dirname, 'engineHost.js'), [], {
        stdio: 'pipe',
        serviceName: 'Headroom Engine',
        env: { ...process.env, ...env },
    });
    const tail = stderrTail();
    child.stdout?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    child.stderr?.on('data', (chunk: Buffer) => tail.add(chunk));
    return {
        get pid() {
            return child.pid ?? null;
        },
        send: (message) => child.postMessage(message),
        onMessage: (listener) => child.on('message', listener),
        onExit: (listener: (exit: HostExit) => void) => {
            child.on('exit', (code) => listener({ code, signal: null, stderrTail: tail.text }));
        },
        kill: () => {
            child.kill();
        },
    };
}
