import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EnsembleConfig, QuorumLimits } from '../../ensemble/config.js';
import type { MemberStatus } from '../../ensemble/member-status.js';
import { LinkProxy } from './link-proxy.js';

/** Options of {@link startEnsemble}. */
export interface StartEnsembleOptions {
  /** Voting members. Default 3. */
  size?: number;
  /** Observers (ids after the voters): they serve reads and forward writes, never vote. Default 0. */
  observers?: number;
  /** Parent of the members' data directories. Default: a new temp dir, removed by close(). */
  dataDir?: string;
  /** ZooKeeper's tickTime for every member. Default 200 (fast failover for tests). */
  tickMs?: number;
  /** Default false (tests): UNSAFE on power loss, fine for process kills. */
  fsync?: boolean;
  /** The member entry to run (built `member-main.js`). Default: next to this module's built file. */
  entry?: string;
  /** Snapshot every this many applied txns (default: the server's, 100000). */
  snapshotEveryTxns?: number;
  /** How often the leader deletes empty containers and expired TTL nodes (ms). Default: the server's, 60000. */
  cleanupIntervalMs?: number;
  /** Members' pino level on stderr. Default 'warn'. */
  logLevel?: string;
  /** How long to wait for a member to bind its ports. Default 20 s. */
  startTimeoutMs?: number;
  /**
   * Fixed ports instead of free ones: member i (1-based) gets client port basePort + i - 1 and
   * quorum port basePort + 1000 + i - 1. 0 or undefined: free ports.
   */
  basePort?: number;
  /** Route member-to-member links through per-link proxies so partition() works. Default true. */
  proxies?: boolean;
  /** Restart a member that exits on its own (not through kill/stop) after 1 s. Default false. */
  supervise?: boolean;
  /** Called with each member's stderr output (e.g. to pass logs through). */
  onStderr?: (id: number, chunk: string) => void;
  /** Quorum transport bounds written into every member's ensemble file (tests use small ones). */
  quorum?: QuorumLimits;
}

/** One member process as the harness sees it. */
export interface EnsembleProcess {
  readonly id: number;
  readonly clientPort: number;
  readonly quorumPort: number;
  readonly dataDir: string;
  /** The current process, if running. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** The last stderr lines (for failure messages). */
  readonly stderrTail: string;
}

/** A local ensemble of real member processes on 127.0.0.1. */
export interface LocalEnsemble {
  /** Every member's client endpoint. */
  readonly connectString: string;
  readonly members: readonly EnsembleProcess[];
  readonly configFile: string;
  /** The member that leads and serves with a quorum of voters serving under it; undefined if none. */
  leader(): Promise<number | undefined>;
  /** Waits until a leader serves and a quorum of running members serve under it; returns its id. */
  waitForLeader(timeoutMs?: number): Promise<number>;
  /**
   * Waits until every running member (voters and observers) serves under one leader: after a
   * restart or heal, the moment a test may count on any member answering. Returns the leader's id.
   */
  waitForAllServing(timeoutMs?: number): Promise<number>;
  /** The member's `/admin/ensemble` status, or undefined if it does not answer. */
  status(id: number): Promise<MemberStatus | undefined>;
  /** SIGKILL: the process dies at once, unflushed state and all. Resolves once it exited. */
  kill(id: number): Promise<void>;
  /** SIGTERM: a clean shutdown. Resolves once it exited. */
  stop(id: number): Promise<void>;
  /** Starts a stopped or killed member again on its data directory and ports. */
  restart(id: number): Promise<void>;
  /** Cuts the quorum link between members `a` and `b` (both directions) until {@link heal}. */
  partition(a: number, b: number): void;
  /** Cuts every quorum link of `id`: it is alone (its clients can still reach it). */
  isolate(id: number): void;
  /** Restores every cut link. */
  heal(): void;
  /** Stops every member and removes the data directory if the harness created it. */
  close(): Promise<void>;
}

interface Slot {
  id: number;
  clientPort: number;
  quorumPort: number;
  dataDir: string;
  proc: ChildProcess | undefined;
  exited: Promise<void> | undefined;
  stderr: string[];
  /** Set while the harness itself stops the process (kill/stop/close): no supervision restart. */
  stopping: boolean;
}

/**
 * `count` distinct free ports. Every probe socket stays open until all are chosen: probing one at a
 * time let the OS hand the same port out twice ("127.0.0.1:p is used twice" in the config).
 */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<NetServer>((resolve, reject) => {
          const srv = createServer();
          srv.once('error', reject);
          srv.listen(0, '127.0.0.1', () => resolve(srv));
        }),
    ),
  );
  const ports = servers.map((srv) => {
    const addr = srv.address();
    return typeof addr === 'object' && addr !== null ? addr.port : 0;
  });
  await Promise.all(servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
  return ports;
}

function defaultEntry(): string {
  // The built package has dist/ensemble/member-main.{js,cjs} and bundles this module into dist/.
  // From sources (src/testing/ensemble/, e.g. under vitest, which defines __dirname for ESM
  // too) the package's build is used.
  const candidates =
    typeof __dirname !== 'undefined'
      ? [
          join(__dirname, 'ensemble', 'member-main.cjs'),
          join(__dirname, '..', '..', '..', 'dist', 'ensemble', 'member-main.cjs'),
        ]
      : [
          new URL('./ensemble/member-main.js', import.meta.url),
          new URL('../../../dist/ensemble/member-main.js', import.meta.url),
        ].map((u) => fileURLToPath(u));
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) {
    throw new Error(
      `startEnsemble: no member entry found (looked for ${candidates.join(', ')}); build @conclave/server or pass { entry }`,
    );
  }
  return found;
}

/**
 * Starts `size` member processes on 127.0.0.1 and resolves once all of them bound their ports
 * (call {@link LocalEnsemble.waitForLeader} before relying on a leader).
 *
 * ```ts
 * const ens = await startEnsemble({ size: 3 });
 * await ens.waitForLeader();
 * const client = await connect(ens.connectString);
 * await ens.kill(await ens.leader() ?? 1);
 * await ens.close();
 * ```
 */
export async function startEnsemble(opts: StartEnsembleOptions = {}): Promise<LocalEnsemble> {
  const size = opts.size ?? 3;
  const observers = opts.observers ?? 0;
  if (
    !Number.isInteger(size) ||
    !Number.isInteger(observers) ||
    size < 1 ||
    observers < 0 ||
    size + observers > 255
  ) {
    throw new RangeError('startEnsemble: size must be ≥ 1, observers ≥ 0, and size + observers ≤ 255');
  }
  // Resolved first: a missing build must not leave a temp dir behind.
  const entry = opts.entry ?? defaultEntry();
  const ownDir = opts.dataDir === undefined;
  const root = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'conclave-ensemble-')));
  const tickMs = opts.tickMs ?? 200;
  const startTimeoutMs = opts.startTimeoutMs ?? 20_000;
  const slots: Slot[] = [];
  const ports = opts.basePort ? [] : await freePorts(2 * (size + observers));
  for (let id = 1; id <= size + observers; id++) {
    slots.push({
      id,
      clientPort: opts.basePort ? opts.basePort + id - 1 : ports[2 * (id - 1)]!,
      quorumPort: opts.basePort ? opts.basePort + 1000 + id - 1 : ports[2 * (id - 1) + 1]!,
      dataDir: join(root, `member-${id}`),
      proc: undefined,
      exited: undefined,
      stderr: [],
      stopping: false,
    });
  }
  const config: EnsembleConfig = {
    tickMs,
    members: slots.map((s) => ({
      id: s.id,
      host: '127.0.0.1',
      clientPort: s.clientPort,
      quorumPort: s.quorumPort,
      role: s.id <= size ? ('voter' as const) : ('observer' as const),
    })),
  };
  await mkdir(root, { recursive: true });
  const configFile = join(root, 'ensemble.json');
  await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`);
  // Every member-to-member link goes through its own proxy (the larger id dials the smaller),
  // so partition(a, b) can cut exactly that link. Each member gets a config of its own in
  // which the peers it dials are at their proxies' ports.
  const proxies = new Map<string, LinkProxy>();
  const linkKey = (a: number, b: number) => `${Math.max(a, b)}-${Math.min(a, b)}`;
  const useProxies = opts.proxies ?? true;
  for (const dialer of useProxies ? slots : []) {
    for (const target of slots) {
      if (target.id < dialer.id) {
        proxies.set(linkKey(dialer.id, target.id), await LinkProxy.start(target.quorumPort));
      }
    }
  }
  const memberConfigFile = (id: number) => join(root, `ensemble-${id}.json`);
  for (const s of slots) {
    const own: EnsembleConfig = {
      tickMs,
      ...(opts.quorum !== undefined ? { quorum: opts.quorum } : {}),
      members: config.members.map((m) =>
        m.id < s.id && useProxies ? { ...m, quorumPort: proxies.get(linkKey(s.id, m.id))!.port } : m,
      ),
    };
    await writeFile(memberConfigFile(s.id), `${JSON.stringify(own, null, 2)}\n`);
  }
  let closed = false;
  const closeProxies = () => Promise.all([...proxies.values()].map((p) => p.close()));

  const slotOf = (id: number): Slot => {
    const s = slots.find((x) => x.id === id);
    if (s === undefined) throw new RangeError(`startEnsemble: no member ${id}`);
    return s;
  };

  const launch = (s: Slot): Promise<void> => {
    const args = [entry, '--config', memberConfigFile(s.id), '--id', String(s.id), '--data-dir', s.dataDir];
    if (opts.fsync !== true) args.push('--no-fsync');
    if (opts.snapshotEveryTxns !== undefined) args.push('--snapshot-every', String(opts.snapshotEveryTxns));
    if (opts.cleanupIntervalMs !== undefined)
      args.push('--cleanup-interval-ms', String(opts.cleanupIntervalMs));
    args.push('--log-level', opts.logLevel ?? 'warn');
    // The member watches its stdin pipe (never written, never closed by us): when this process
    // dies — even by SIGKILL — the kernel closes it and the member shuts down instead of living on.
    args.push('--exit-with-parent');
    const proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    // Harmless if the member exits first (EPIPE on a later write we never make, or on close).
    proc.stdin!.on('error', () => {});
    s.proc = proc;
    s.stderr = [];
    s.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    s.stopping = false;
    proc.once('exit', () => {
      if (s.proc === proc) s.proc = undefined;
      if (!s.stopping && opts.supervise === true && !closed) {
        const t = setTimeout(() => {
          if (!closed && s.proc === undefined) launch(s).catch(() => {});
        }, 1000);
        t.unref();
      }
    });
    proc.stderr!.on('data', (d: Buffer) => {
      opts.onStderr?.(s.id, d.toString());
      s.stderr.push(d.toString());
      if (s.stderr.length > 50) s.stderr.shift();
    });
    return new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => {
        reject(new Error(`member ${s.id} did not start within ${startTimeoutMs} ms: ${s.stderr.join('')}`));
      }, startTimeoutMs);
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"ready":true')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`member ${s.id} exited with ${code} while starting: ${s.stderr.join('')}`));
      });
    });
  };

  const signal = async (id: number, sig: NodeJS.Signals): Promise<void> => {
    const s = slotOf(id);
    const proc = s.proc;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    s.stopping = true;
    proc.kill(sig);
    // A clean stop that hangs is a bug, but must not hang the caller: SIGKILL after 10 s.
    const force = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await s.exited;
    clearTimeout(force);
    s.proc = undefined;
  };

  const status = async (id: number): Promise<MemberStatus | undefined> => {
    const s = slotOf(id);
    if (s.proc === undefined) return undefined;
    try {
      const res = await fetch(`http://127.0.0.1:${s.clientPort}/admin/ensemble`, {
        signal: AbortSignal.timeout(2000),
      });
      if (!res.ok) return undefined;
      return (await res.json()) as MemberStatus;
    } catch {
      return undefined;
    }
  };

  /** The serving leader that a quorum of voters serves under (an isolated old leader may still think it leads). */
  const quorumLeader = (all: Array<MemberStatus | undefined>): number | undefined => {
    for (const lead of all) {
      if (lead?.role !== 'leading' || !lead.serving) continue;
      const under = all.filter((st) => st?.serving && st.leaderId === lead.id && st.id <= size).length;
      if (under >= Math.floor(size / 2) + 1) return lead.id;
    }
    return undefined;
  };

  const leader = async (): Promise<number | undefined> =>
    quorumLeader(await Promise.all(slots.map((s) => status(s.id))));

  /** Polls every member's status until `done` returns a leader id, or fails naming what it saw. */
  const waitFor = async (
    what: string,
    timeoutMs: number,
    done: (all: Array<MemberStatus | undefined>) => number | undefined,
  ): Promise<number> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const all = await Promise.all(slots.map((s) => status(s.id)));
      const lead = done(all);
      if (lead !== undefined) return lead;
      if (Date.now() > deadline) {
        throw new Error(
          `no ${what} within ${timeoutMs} ms: ${JSON.stringify(all)}\n${slots.map((s) => `--- member ${s.id}\n${s.stderr.join('')}`).join('\n')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  try {
    await Promise.all(slots.map(launch));
  } catch (err) {
    for (const s of slots) s.proc?.kill('SIGKILL');
    await Promise.all(slots.map((s) => s.exited));
    await closeProxies();
    if (ownDir) await rm(root, { recursive: true, force: true });
    throw err;
  }

  return {
    connectString: slots.map((s) => `127.0.0.1:${s.clientPort}`).join(','),
    members: slots.map((s) => ({
      id: s.id,
      clientPort: s.clientPort,
      quorumPort: s.quorumPort,
      dataDir: s.dataDir,
      get pid() {
        return s.proc?.pid;
      },
      get running() {
        return s.proc !== undefined;
      },
      get stderrTail() {
        return s.stderr.join('');
      },
    })),
    configFile,
    leader,
    status,
    waitForLeader: (timeoutMs = 20_000) =>
      waitFor('a leader serving with a quorum', timeoutMs, (all) => quorumLeader(all)),
    waitForAllServing: (timeoutMs = 20_000) =>
      waitFor('every running member serving under one leader', timeoutMs, (all) => {
        const lead = quorumLeader(all);
        if (lead === undefined) return undefined;
        const running = slots.filter((s) => s.proc !== undefined);
        const serving = running.every((s) => {
          const st = all[slots.indexOf(s)];
          return st?.serving === true && (st.id === lead || st.leaderId === lead);
        });
        return serving ? lead : undefined;
      }),
    kill: (id) => signal(id, 'SIGKILL'),
    stop: (id) => signal(id, 'SIGTERM'),
    async restart(id) {
      const s = slotOf(id);
      if (s.proc !== undefined) throw new Error(`member ${id} is running; stop or kill it first`);
      await launch(s);
    },
    partition(a, b) {
      if (!useProxies) throw new Error('startEnsemble: partition() needs proxies: true');
      slotOf(a);
      slotOf(b);
      if (a === b) throw new RangeError('startEnsemble: partition needs two different members');
      proxies.get(linkKey(a, b))!.cut();
    },
    isolate(id) {
      if (!useProxies) throw new Error('startEnsemble: isolate() needs proxies: true');
      slotOf(id);
      for (const s of slots) if (s.id !== id) proxies.get(linkKey(id, s.id))!.cut();
    },
    heal() {
      for (const p of proxies.values()) p.heal();
    },
    async close() {
      closed = true;
      await Promise.all(slots.map((s) => signal(s.id, 'SIGTERM')));
      await closeProxies();
      if (ownDir) await rm(root, { recursive: true, force: true });
    },
  };
}
