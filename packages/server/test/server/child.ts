import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, '..', '..');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds packages/server (and core) unless dist is newer than every source file. */
export function ensureBuilt(): void {
  const dist = join(pkg, 'dist', 'index.js');
  const core = join(pkg, '..', 'core');
  const stale =
    !existsSync(dist) ||
    statSync(dist).mtimeMs < newestMtime(join(pkg, 'src')) ||
    !existsSync(join(core, 'dist', 'index.js')) ||
    statSync(join(core, 'dist', 'index.js')).mtimeMs < newestMtime(join(core, 'src'));
  if (stale)
    execFileSync('pnpm', ['--filter', '@conclave/server...', 'build'], { cwd: pkg, stdio: 'ignore' });
}

export interface ChildServer {
  proc: ChildProcess;
  port: number;
}

/** Spawns the fixture server; resolves once it prints its port. */
export function spawnServer(dataDir: string, port = 0, tickMs = 1000): Promise<ChildServer> {
  const proc = spawn(
    process.execPath,
    [join(here, 'fixtures', 'server-child.mjs'), dataDir, String(port), String(tickMs)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve({ proc, port: (JSON.parse(line) as { port: number }).port });
    });
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    proc.once('exit', (code) => reject(new Error(`server child exited (${code}): ${err}`)));
  });
}

/** kill -9 and wait for the process to be gone. */
export function kill9(child: ChildServer): Promise<void> {
  return new Promise((resolve) => {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) return resolve();
    child.proc.once('exit', () => resolve());
    process.kill(child.proc.pid!, 'SIGKILL');
  });
}
