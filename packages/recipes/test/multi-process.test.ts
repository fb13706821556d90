import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ConclaveClient } from '@conclave/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaderElection, type Participant } from '../src/index.js';
import { buildForChildProcesses } from './build-once.js';
import { childrenOf, Clients, startTestServer, waitFor } from './helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/contender.mjs', import.meta.url));
let srv: Awaited<ReturnType<typeof startTestServer>>;
const clients = new Clients();
let client: ConclaveClient;
const children = new Set<ChildProcess>();

interface Child {
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
}

function run(args: string[]): Child {
  const proc = spawn(process.execPath, [fixture, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(proc);
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(JSON.parse(l)));
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code) => {
      children.delete(proc);
      resolve(code);
    }),
  );
  return { proc, lines, exited };
}

beforeAll(async () => {
  buildForChildProcesses();
  srv = await startTestServer();
  client = await clients.connect(srv.server.connectString);
}, 180_000);
afterAll(async () => {
  for (const p of children) p.kill('SIGKILL');
  await clients.closeAll();
  await srv?.stop();
});

describe('across processes', () => {
  it('mutual exclusion: 16 contenders x 50 acquisitions in 4 processes, no overlap, no lost update', async () => {
    const [processes, contenders, rounds] = [4, 4, 50];
    await client.create('/mp-counter', '0');
    const procs = Array.from({ length: processes }, () =>
      run([
        'mutex',
        srv.server.connectString,
        '/locks/mp',
        String(contenders),
        String(rounds),
        '/mp-counter',
        '/mp-holder',
      ]),
    );
    const codes = await Promise.all(procs.map((p) => p.exited));
    const results = procs.map((p) => p.lines.find((l) => 'done' in l || 'error' in l));
    expect(results.filter((r) => r && 'error' in r)).toEqual([]);
    expect(codes).toEqual([0, 0, 0, 0]);
    const total = processes * contenders * rounds;
    expect(results.reduce((s, r) => s + Number(r?.acquired), 0)).toBe(total);
    expect(results.reduce((s, r) => s + Number(r?.overlaps), 0)).toBe(0);
    const { data } = await client.getData('/mp-counter');
    expect(Number(new TextDecoder().decode(data))).toBe(total);
    expect(await childrenOf(client, '/locks/mp')).toEqual([]);
  }, 90_000);

  it("election: kill -9 the leader's process → a new leader within the session timeout, agreed by all", async () => {
    const path = '/election/mp';
    const sessionTimeoutMs = 1_000;
    const procs = ['a', 'b', 'c'].map((id) =>
      run(['elect', srv.server.connectString, path, id, String(sessionTimeoutMs)]),
    );
    for (const p of procs) await waitFor('participant started', () => p.lines.some((l) => l.started));
    const observer = LeaderElection.observe(client, path);
    let leader: Participant | null = null;
    observer.leader$.subscribe((l) => (leader = l));
    await waitFor('a leader', () => leader !== null);
    const first = (leader as Participant | null)!.id;
    const lastView = (p: Child) => [...p.lines].reverse().find((l) => 'leader' in l)?.leader;
    await waitFor('everyone agrees on the first leader', () => procs.every((p) => lastView(p) === first));
    const victim = procs.find((p) => p.lines.some((l) => l.leading === true))!;
    expect((victim.lines.find((l) => l.leading === true) as { id: string }).id).toBe(first);
    const t0 = Date.now();
    victim.proc.kill('SIGKILL');
    await waitFor('a new leader', () => leader !== null && leader.id !== first, 10_000);
    const failoverMs = Date.now() - t0;
    const survivors = procs.filter((p) => p !== victim);
    const second = (leader as Participant | null)!.id;
    await waitFor('survivors agree on the new leader', () => survivors.every((p) => lastView(p) === second));
    const leading = survivors.filter(
      (p) => [...p.lines].reverse().find((l) => 'leading' in l)?.leading === true,
    );
    expect(leading).toHaveLength(1);
    expect(failoverMs).toBeLessThan(sessionTimeoutMs * 3);
    await observer.close();
    for (const p of survivors) p.proc.stdin!.write('bye\n');
    await Promise.all(survivors.map((p) => p.exited));
  }, 60_000);
});
