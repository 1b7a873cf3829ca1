// `npm run serve -- …` as a user runs it, resolved once it prints its address.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface Served {
    child: ChildProcess;
    url: string;
    origin: string;
    token: string;
}

export function serve(args: string[], env: Record<string, string> = {}): Promise<Served> {
    const child = spawn('npm', ['run', '--silent', 'serve', '--', ...args], { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve printed no address in time. stderr:\n${stderr}`)), 60_000);
        child.on('exit', (code) => reject(new Error(`serve exited with ${code}. stderr:\n${stderr}`)));
        child.stdout!.on('data', (chunk) => {
            stdout += chunk;
            const match = /^Headroom is running at (http:\/\/127\.0\.0\.1:\d+)\/\?token=([\w-]+)\n/.exec(stdout);
            if (match == null) return;
            clearTimeout(timer);
            resolve({ child, url: `${match[1]}/?token=${match[2]}`, origin: match[1], token: match[2] });
        });
    });
}

/** Stop serve and everything it started (its process group). */
export function stopServe(child: ChildProcess): Promise<void> {
    if (child.exitCode != null) return Promise.resolve();
    return new Promise((resolve) => {
        child.once('exit', () => resolve());
        process.kill(-child.pid!, 'SIGTERM');
    });
}
