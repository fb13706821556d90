import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const packages = join(here, '..', '..');
export const BIN = join(packages, 'cli', 'dist', 'bin.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds the binary and what it imports unless every dist is newer than its sources. */
export function ensureBuilt(): void {
  const stale = ['core', 'client', 'server', 'cli'].some((p) => {
    const dist = join(packages, p, 'dist', 'index.js');
    return !existsSync(dist) || statSync(dist).mtimeMs < newestMtime(join(packages, p, 'src'));
  });
  if (stale)
    execFileSync('pnpm', ['--filter', '@conclave/cli...', 'build'], { cwd: packages, stdio: 'ignore' });
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `conclave …args` to completion, optionally feeding stdin. */
export function conclave(args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code =
        err === null
          ? 0
          : typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 1;
      resolve({ code, stdout, stderr });
    });
    if (stdin !== undefined) child.stdin!.end(stdin);
    else child.stdin!.end();
  });
}

export interface ServerProcess {
  proc: ChildProcess;
  address: string;
  stderr: () => string;
}

/** Starts `conclave server` on an ephemeral port; resolves once it prints where it serves. */
export function startServerProcess(dataDir: string): Promise<ServerProcess> {
  const proc = spawn(
    process.execPath,
    [BIN, 'server', '--data-dir', dataDir, '--port', '0', '--no-fsync', '--tick-ms', '200'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving at (\S+)/.exec(out);
      if (m) resolve({ proc, address: m[1]!, stderr: () => err });
    });
    proc.once('exit', (code) => reject(new Error(`conclave server exited (${code}): ${err}`)));
  });
}
