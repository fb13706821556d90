import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMemberEntry } from './build-member.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Alive and not a zombie (a reparented child may sit as a zombie until its new parent reaps it). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/PID/stat: "pid (comm) S ..." — the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}

describe('members started by a supervisor', () => {
  let built: Awaited<ReturnType<typeof buildMemberEntry>>;
  let dataDir: string;
  const pids: number[] = [];

  beforeAll(async () => {
    built = await buildMemberEntry({ supervisor: join(here, 'fixtures', 'supervisor.ts') });
    dataDir = await mkdtemp(join(tmpdir(), 'conclave-orphans-'));
  }, 60_000);

  afterAll(async () => {
    // Whatever survived a failed assertion is ours: kill it by PID.
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
    await built?.remove();
  }, 30_000);

  it('exit when the supervisor is killed with SIGKILL', async () => {
    const parent = spawn(process.execPath, [join(built.outDir, 'supervisor.js'), built.entry, dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    parent.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const members = await new Promise<number[]>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`supervisor did not start members: ${err}`)), 40_000);
      parent.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line !== undefined && out.includes('\n')) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { pids: number[] }).pids);
        }
      });
      parent.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`supervisor exited with ${code}: ${err}`));
      });
    });
    pids.push(...members);
    expect(members).toHaveLength(3);
    for (const pid of members) expect(alive(pid)).toBe(true);

    const exited = new Promise((r) => parent.once('exit', r));
    parent.kill('SIGKILL');
    await exited;

    const deadline = Date.now() + 15_000;
    while (members.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(members.filter(alive)).toEqual([]);
  }, 90_000);
});
