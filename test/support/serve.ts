// `npm run serve -- …` exactly as the README says, for the end-to-end tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface Served {
    child: ChildProcess;
    url: string;
    origin: string;
    token: string;
    stdoutLines: () => string[];
    stderrText: () => string;
}

/** Starts serve in its own process group (with extra environment); resolves once it prints its address. */
export function serve(args: string[], env: Record<string, string> = {}): Promise<Served> {
    const child = spawn('npm', ['run', '--silent', 'serve', '--', ...args], { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve printed no address in time. stderr:\n${stderr}`)), 60_000);
        child.on('exit', (code) => reject(new Error(`serve exited with ${code}. stderr:\n${stderr}`)));
        child.stdout.on('data', (chunk) => {
            stdout += chunk;
            const [, origin, token] = /^Headroom is running at (http:\/\/127\.0\.0\.1:\d+)\/\?token=([\w-]+)\n/.exec(stdout) ?? [];
            if (origin == null || token == null) return;
            clearTimeout(timer);
            resolve({ child, url: `${origin}/?token=${token}`, origin, token, stdoutLines: () => stdout.split('\n').filter(Boolean), stderrText: () => stderr });
        });
    });
}

/** Ends the whole process group (npm, the server, the engine host) with `signal`. */
export function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (child.exitCode != null || child.signalCode != null) return Promise.resolve();
    return new Promise((resolve) => {
        child.once('exit', () => resolve());
        // detached: the child leads its own process group
        if (child.pid != null) process.kill(-child.pid, signal);
    });
}
