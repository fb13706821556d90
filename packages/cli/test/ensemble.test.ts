import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, conclave, ensureBuilt } from './e2e.js';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

/** Spawns `conclave …args` and resolves with the first stdout match of `ready`. */
function spawnUntil(args: string[], ready: RegExp): Promise<{ proc: ChildProcess; match: RegExpExecArray }> {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-20_000);
  });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) resolve({ proc, match: m });
    });
    proc.once('exit', (code) => reject(new Error(`conclave ${args[0]} exited (${code}): ${err}`)));
  });
}

function exited(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((r) => proc.once('exit', (code) => r(code)));
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

/** Retries a cli invocation until it succeeds (members may still be electing / syncing). */
async function eventually(args: string[], timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await conclave(args);
    if (r.code === 0 || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 200));
  }
}

describe('conclave ensemble / conclave server --config', () => {
  let dir: string;
  beforeAll(async () => {
    ensureBuilt();
    dir = await mkdtemp(join(tmpdir(), 'conclave-cli-ensemble-'));
  }, 180_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('`conclave ensemble --size 3 --observers 1` serves a replicated ensemble and stops it all on SIGINT', async () => {
    const { proc, match } = await spawnUntil(
      [
        'ensemble',
        '--size',
        '3',
        '--observers',
        '1',
        '--data-dir',
        join(dir, 'ens'),
        '--base-port',
        '0',
        '--tick-ms',
        '200',
        '--no-fsync',
      ],
      /serving at (\S+)/,
    );
    try {
      const cs = match[1]!;
      expect(cs.split(',')).toHaveLength(4);
      // Member 4 (after the voters) observes: it follows and serves, never votes.
      const observerStatus = async () => {
        const r = await fetch(`http://${cs.split(',')[3]}/admin/ensemble`).catch(() => undefined);
        return r?.ok ? ((await r.json()) as { role: string }) : undefined;
      };
      const deadline = Date.now() + 30_000;
      let st = await observerStatus();
      while (st?.role !== 'observing' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        st = await observerStatus();
      }
      expect(st?.role).toBe('observing');
      expect(await eventually(['cli', '--server', cs, 'create', '/via-ensemble', 'hi'])).toMatchObject({
        code: 0,
      });
      for (const member of cs.split(',')) {
        const r = await eventually(['cli', '--server', member, 'get', '/via-ensemble']);
        expect(r.stdout).toBe('hi\n');
      }
      proc.kill('SIGINT');
      expect(await exited(proc)).toBe(0);
      for (const member of cs.split(',')) expect(await refused(Number(member.split(':')[1]))).toBe(true);
    } finally {
      proc.kill('SIGKILL');
    }
  }, 120_000);

  it('`conclave server --config ensemble.json --id N` runs one member each', async () => {
    const members = [];
    for (let id = 1; id <= 3; id++) {
      members.push({
        id,
        host: '127.0.0.1',
        clientPort: await freePort(),
        quorumPort: await freePort(),
        role: 'voter',
      });
    }
    const config = join(dir, 'ensemble.json');
    await writeFile(config, JSON.stringify({ tickMs: 200, members }));
    const procs: ChildProcess[] = [];
    try {
      for (const m of members) {
        const { proc } = await spawnUntil(
          [
            'server',
            '--config',
            config,
            '--id',
            String(m.id),
            '--data-dir',
            join(dir, `m${m.id}`),
            '--no-fsync',
          ],
          /listening for clients at/,
        );
        procs.push(proc);
      }
      const cs = members.map((m) => `127.0.0.1:${m.clientPort}`).join(',');
      expect(await eventually(['cli', '--server', cs, 'create', '/via-config', 'ok'])).toMatchObject({
        code: 0,
      });
      for (const m of members) {
        const r = await eventually(['cli', '--server', `127.0.0.1:${m.clientPort}`, 'get', '/via-config']);
        expect(r.stdout).toBe('ok\n');
      }
      for (const p of procs) p.kill('SIGTERM');
      for (const p of procs) expect(await exited(p)).toBe(0);
    } finally {
      for (const p of procs) p.kill('SIGKILL');
    }
  }, 120_000);

  it('refuses a bad ensemble file with a clear message', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ members: [{ id: 1, clientPort: 1, quorumPort: 1 }] }));
    const r = await conclave(['server', '--config', bad, '--id', '1', '--data-dir', join(dir, 'bad')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ensemble config: .*used twice/);
  });
});
