import type { ZnodeResult } from '../linearizability/index.js';
import { ZabNode } from '../../zab/node.js';
import type { SeededPrng } from '../../zab/prng.js';
import type { LogRange, Ready, ZabFault, ZabMessage, ZabTimingConfig } from '../../zab/types.js';
import type { DiskOp } from './disk.js';
import { SimDisk } from './disk.js';
import {
  SIM_SESSION_TIMEOUT_TICKS,
  type SimEntry,
  type SimEntryBody,
  type SimStateMachine,
  type SimStateMachineFactory,
} from './entry.js';
import type { EventQueue } from './event-queue.js';
import type { SimNetwork } from './network.js';

/** What travels on the simulated network: ZAB traffic plus the shell's request forwarding. */
export type NetMsg =
  | { kind: 'zab'; msg: ZabMessage<SimEntry> }
  | { kind: 'forward'; from: number; body: SimEntryBody }
  | { kind: 'refused'; clientId: number; reqId: number };

export type WriteReply = { ok: true; result: ZnodeResult | undefined; zxid: bigint } | { ok: false };
export type ReadReply = { ok: true; result: ZnodeResult; zxid: bigint } | { ok: false };

export interface MemberHooks {
  queue: EventQueue;
  network: SimNetwork<NetMsg>;
  factory: SimStateMachineFactory;
  /** Every apply on every member (replays and rebuilds too): the digest-chain check. */
  onApply(member: number, entry: SimEntry, digest: string, delivered: boolean): void;
  onEvent(member: number, text: string): void;
  /** Fsync latency in time units for one Ready. */
  diskDelay(member: SimMember): number;
  /** Deliberate shell bugs (tests that prove the README's duty order matters). */
  shellFaults: readonly SimShellFault[];
}

/**
 * Shell bugs: `sendBeforeFsync` sends a Ready's messages before its writes are durable (ACKs
 * escape before the data: ZOOKEEPER-3911's class); `epochBeforeLog` writes the epochs before the
 * appended txns (ZOOKEEPER-4643's class); `skipSessionCheck` (database state machine) lets the
 * leader prep requests of closed sessions (it turns off the Preparer's session check through its
 * test-only unsafeSkipSessionCheck), so an ephemeral can be born to a dead session.
 */
export type SimShellFault =
  | 'sendBeforeFsync'
  | 'epochBeforeLog'
  | 'skipSessionCheck'
  | 'fromLogOffByOne'
  | 'fromLogSkipEntry';

/**
 * How a member's shell uses its durable log (the Simulation picks one per seed, so every mode
 * runs): whether it tells its node where the log starts ({@link ZabNode.setLogStart}) and streams
 * `fromLog` ranges from it, and whether it takes its own periodic snapshots and purges the log.
 */
export interface SimLogConfig {
  /** Call setLogStart before every Ready and serve DIFF/TRUNC `fromLog` ranges from the disk. */
  serveFromLog: boolean;
  /** setLogStart's maxEntries: a learner further behind than this gets a SNAP instead. */
  maxLogEntries: number;
  /** Take a local snapshot once this many txns were applied since the last one (0: never). */
  snapshotEvery: number;
  /** A purge keeps this many entries at or below the snapshot (older ones are dropped). */
  keepBelowSnapshot: number;
}

/** The shell before setLogStart existed: no log streaming, no local snapshots. */
export const PLAIN_LOG: SimLogConfig = {
  serveFromLog: false,
  maxLogEntries: Number.POSITIVE_INFINITY,
  snapshotEvery: 0,
  keepBelowSnapshot: 0,
};

/** What a member's log shell did (summed into the run's stats). */
export interface SimLogStats {
  /** DIFF/TRUNC syncs whose older part was streamed from the durable log. */
  logSyncs: number;
  logSyncEntries: number;
  /** Streams the log could not produce (connection broken; the learner starts over). */
  logSyncFailures: number;
  localSnapshots: number;
  /** Restarts that recovered from the member's own snapshot. */
  restartsFromOwnSnapshot: number;
}

/**
 * One ensemble member: a {@link ZabNode} plus the I/O shell the README's duties describe, in
 * simulation — disk with a staged (un-fsynced) tail, a state machine, request forwarding.
 */
export class SimMember {
  readonly disk = new SimDisk();
  node: ZabNode<SimEntry> | undefined;
  sm: SimStateMachine;
  incarnation = 0;
  private busy = false;
  private staged: DiskOp[] = [];
  private readonly pendingWrites = new Map<string, (r: WriteReply) => void>();
  private readonly pendingSyncReads = new Map<number, { path: string; reply: (r: ReadReply) => void }>();
  private nextSyncReq = 1;
  /** Container path → the tick this member (as leader) last proposed its delete. */
  private readonly reapAttempts = new Map<string, number>();
  private nextReapReq = 1;
  private readonly forwardsSeen = new Set<string>();
  private pumping = false;
  /** Leader only: prep token of each proposed zxid, settled when applied. */
  private readonly prepTokens = new Map<bigint, number>();
  /** The epoch whose leadership the preparer's outstanding changes belong to. */
  private prepEpoch = -1;
  /** Ticks are this many time units apart (skewed per member). */
  tickPeriod: number;
  crashed = false;
  readonly logStats: SimLogStats = {
    logSyncs: 0,
    logSyncEntries: 0,
    logSyncFailures: 0,
    localSnapshots: 0,
    restartsFromOwnSnapshot: 0,
  };
  /** Txns applied since the last local snapshot (or boot). */
  private appliedSinceSnapshot = 0;
  /** A local snapshot (not a SNAP) is the one this member's state was last rebuilt from. */
  private ownSnapshotZxid: bigint | undefined;
  /**
   * As the real shell's logFloorMin: after a stream the log could not produce, no DIFF from the
   * log at or below this point (the learner gets a SNAP).
   */
  private logFloorMin = 0n;
  /** Leader connections (`learner:conn`) whose log stream broke: nothing more is sent on them. */
  private readonly brokenConns = new Set<string>();
  error: Error | undefined;

  constructor(
    readonly id: number,
    private readonly voters: number[],
    private readonly observers: number[],
    private readonly timing: ZabTimingConfig,
    private readonly prng: SeededPrng,
    private readonly hooks: MemberHooks,
    private readonly faults: ZabFault[],
    private readonly maxCommittedLogEntries: number,
    private readonly maxZxidCounter: number | undefined,
    tickPeriod: number,
    private readonly logConfig: SimLogConfig = PLAIN_LOG,
  ) {
    this.tickPeriod = tickPeriod;
    this.sm = hooks.factory.empty();
    this.start();
  }

  get serving(): boolean {
    return this.node?.serving ?? false;
  }

  /**
   * Leader only, as ZooKeeper's ContainerManager: propose the delete of every empty container that
   * once had a child, at most once per few ticks each (the txn is re-checked when prepped/applied).
   */
  private reapContainers(): void {
    const node = this.node;
    if (node === undefined || node.role !== 'leading' || !node.serving || this.error !== undefined) return;
    for (const path of this.sm.containerCandidates()) {
      const last = this.reapAttempts.get(path);
      if (last !== undefined && node.ticks - last < 5) continue;
      this.reapAttempts.set(path, node.ticks);
      this.forward({ kind: 'op', clientId: -1, reqId: -this.nextReapReq++, op: { op: 'reap', path } });
    }
  }

  /** Boots from the durable disk, as a restarted process would: snapshot + full log replay. */
  private start(): void {
    this.incarnation++;
    this.crashed = false;
    this.busy = false;
    this.staged = [];
    this.prepEpoch = -1;
    this.prepTokens.clear();
    // Ticks restart from 0 with the new ZabNode: attempt times of the last incarnation mean nothing.
    this.reapAttempts.clear();
    const d = this.disk;
    this.sm = this.hooks.factory.empty();
    this.appliedSinceSnapshot = 0;
    const snapZxid = d.snapshot?.zxid ?? 0n;
    // The log may reach below the snapshot (a purge keeps some): replay only what follows it.
    const tail = d.log.filter((e) => e.zxid > snapZxid);
    if (d.snapshot !== undefined && d.snapshot.zxid === this.ownSnapshotZxid) {
      this.logStats.restartsFromOwnSnapshot++;
    }
    this.guard(() => {
      if (d.snapshot !== undefined) this.sm = this.hooks.factory.restore(d.snapshot.data);
      for (const e of tail) this.applyOne(e, false);
    });
    const config = {
      id: this.id,
      voters: this.voters,
      observers: this.observers,
      prng: this.prng.fork(),
      timing: this.timing,
      persisted: {
        acceptedEpoch: d.acceptedEpoch,
        currentEpoch: d.currentEpoch,
        snapshotZxid: snapZxid,
        entries: tail,
      },
      faults: this.faults,
      maxCommittedLogEntries: this.maxCommittedLogEntries,
      ...(this.maxZxidCounter !== undefined ? { maxZxidCounter: this.maxZxidCounter } : {}),
    };
    this.node = new ZabNode<SimEntry>(config);
    // The node's history (its epoch records) starts at the snapshot: it cannot count log entries
    // below it, so a log reaching further back (a purge keeps some) is offered from there only.
    this.brokenConns.clear();
    this.logFloorMin = snapZxid;
    this.tellLogStart();
    for (const s of this.sm.sessions()) this.node.trackSession(s, SIM_SESSION_TIMEOUT_TICKS);
    const inc = this.incarnation;
    const tickLoop = () => {
      if (this.incarnation !== inc || this.crashed) return;
      this.guard(() => this.node!.tick());
      this.reapContainers();
      this.pump();
      this.hooks.queue.schedule(this.hooks.queue.now + this.tickPeriod, tickLoop);
    };
    this.hooks.queue.schedule(this.hooks.queue.now + this.tickPeriod, tickLoop);
    this.pump();
  }

  /** Kills the process: in-memory state and un-fsynced writes are lost; a prefix of them may survive. */
  crash(prng: SeededPrng, loseAllStaged = false): void {
    if (this.crashed) return;
    if (this.staged.length > 0) {
      const keep = loseAllStaged ? 0 : prng.nextInt(this.staged.length + 1);
      this.guard(() => this.disk.write(this.staged.slice(0, keep)));
    }
    this.staged = [];
    this.crashed = true;
    this.node = undefined;
    this.incarnation++;
    this.pendingWrites.clear();
    this.pendingSyncReads.clear();
  }

  restart(): void {
    if (!this.crashed) return;
    this.start();
  }

  deliver(msg: NetMsg): void {
    if (this.crashed || this.node === undefined) return;
    const node = this.node;
    switch (msg.kind) {
      case 'zab':
        this.guard(() => node.step(msg.msg));
        break;
      case 'forward': {
        // The network may duplicate; a real learner connection (TCP) would not. Propose once.
        const key = forwardKey(msg.body);
        if (key !== undefined) {
          if (this.forwardsSeen.has(key)) break;
          this.forwardsSeen.add(key);
        }
        const r = this.proposeLocally(msg.body);
        if (!r.ok && msg.body.kind === 'op') {
          this.hooks.network.send(this.id, msg.from, {
            kind: 'refused',
            clientId: msg.body.clientId,
            reqId: msg.body.reqId,
          });
        }
        break;
      }
      case 'refused': {
        const key = `${msg.clientId}:${msg.reqId}`;
        const reply = this.pendingWrites.get(key);
        if (reply !== undefined) {
          this.pendingWrites.delete(key);
          reply({ ok: false });
        }
        break;
      }
    }
    this.pump();
  }

  /** A client write arrives here; answered when this member applies it. */
  clientWrite(body: SimEntryBody & { kind: 'op' }, reply: (r: WriteReply) => void): void {
    const node = this.node;
    if (node === undefined || !node.serving || node.leaderId === undefined) {
      reply({ ok: false });
      return;
    }
    this.pendingWrites.set(`${body.clientId}:${body.reqId}`, reply);
    this.forward(body);
  }

  /** A server-side write (session create/close), fire and forget. */
  forward(body: SimEntryBody): void {
    const node = this.node;
    if (node === undefined || node.leaderId === undefined) return;
    if (node.leaderId === this.id) {
      const r = this.proposeLocally(body);
      if (!r.ok && body.kind === 'op') {
        const key = `${body.clientId}:${body.reqId}`;
        const reply = this.pendingWrites.get(key);
        this.pendingWrites.delete(key);
        reply?.({ ok: false });
      }
      this.pump();
    } else {
      this.hooks.network.send(this.id, node.leaderId, { kind: 'forward', from: this.id, body });
    }
  }

  /**
   * Proposes on this (leader) member, prepping first when the state machine decides txns on the
   * leader (Database). Prep needs the leader's state to include its whole initial history.
   */
  private proposeLocally(body: SimEntryBody): { ok: boolean } {
    const node = this.node!;
    const sm = this.sm;
    if (sm.prep === undefined) return node.propose(body);
    const startZxid = node.establishedZxid;
    if (startZxid === undefined || sm.lastZxid < startZxid) return { ok: false };
    if (this.prepEpoch !== node.currentEpoch) {
      // A new leadership: nothing prepped under an earlier one is outstanding any more.
      sm.resetPrep?.();
      this.prepTokens.clear();
      this.prepEpoch = node.currentEpoch;
    }
    const prepped = sm.prep(body, this.hooks.queue.now);
    const r = node.propose(prepped?.body ?? body);
    if (!r.ok) {
      sm.resetPrep?.();
      this.prepTokens.clear();
      return r;
    }
    if (prepped !== undefined) this.prepTokens.set(r.zxid, prepped.token);
    return r;
  }

  /** A plain read: served locally (sequentially consistent), if this member is serving. */
  clientRead(path: string, minZxid: bigint): ReadReply {
    if (!this.serving || this.sm.lastZxid < minZxid) return { ok: false };
    return { ok: true, result: this.sm.read(path), zxid: this.sm.lastZxid };
  }

  /** sync + read: linearizable. */
  clientSyncRead(path: string, reply: (r: ReadReply) => void): void {
    const node = this.node;
    const reqId = this.nextSyncReq++;
    if (node === undefined || !node.sync(reqId).ok) {
      reply({ ok: false });
      return;
    }
    this.pendingSyncReads.set(reqId, { path, reply });
    this.pump();
  }

  touch(sessionId: bigint): void {
    this.node?.touchSession(sessionId);
  }

  /** Runs the Ready loop: persist (with fsync latency), apply, answer syncs, send, advance. */
  pump(): void {
    // Iterative: a Ready without disk work finishes at once and may produce the next one.
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let i = 0; i < 10_000 && this.pumpOnce(); i++) {}
    } finally {
      this.pumping = false;
    }
  }

  /** One Ready; true when it completed synchronously (so another may be ready). */
  private pumpOnce(): boolean {
    const node = this.node;
    if (node === undefined || this.crashed || this.busy || this.error !== undefined) return false;
    if (!node.hasReady()) return false;
    let rd: Ready<SimEntry>;
    try {
      this.tellLogStart();
      rd = node.ready();
    } catch (e) {
      this.fail(e);
      return false;
    }
    this.busy = true;
    const ops: DiskOp[] = [];
    if (rd.snapshotToInstall) {
      ops.push({ op: 'snapshot', zxid: rd.snapshotToInstall.zxid, data: rd.snapshotToInstall.snapshot });
    }
    if (rd.toTruncate) ops.push({ op: 'truncate', zxid: rd.toTruncate.zxid });
    const epochBeforeLog = this.hooks.shellFaults.includes('epochBeforeLog');
    if (!epochBeforeLog) for (const entry of rd.toAppend) ops.push({ op: 'append', entry });
    if (rd.epochUpdates?.acceptedEpoch !== undefined)
      ops.push({ op: 'acceptedEpoch', epoch: rd.epochUpdates.acceptedEpoch });
    if (rd.epochUpdates?.currentEpoch !== undefined)
      ops.push({ op: 'currentEpoch', epoch: rd.epochUpdates.currentEpoch });
    if (epochBeforeLog) for (const entry of rd.toAppend) ops.push({ op: 'append', entry });
    if (this.hooks.shellFaults.includes('sendBeforeFsync') && ops.length > 0) {
      // SNAPs and log streams are read from state only after this Ready's writes.
      const late = (m: ZabMessage<SimEntry>) => m.type === 'snap' || hasFromLog(m);
      const early = rd.messages.filter((m) => !late(m));
      rd.messages = rd.messages.filter(late);
      for (const m of early) this.hooks.network.send(this.id, m.to, { kind: 'zab', msg: m });
    }
    const inc = this.incarnation;
    const finish = () => {
      if (this.incarnation !== inc) return;
      this.staged = [];
      this.guard(() => {
        this.disk.write(ops);
        this.afterPersist(rd);
      });
      this.busy = false;
      if (this.error === undefined) this.guard(() => this.node!.advance());
      if (this.error === undefined) this.guard(() => this.maybeSnapshot());
    };
    for (const e of rd.events) this.hooks.onEvent(this.id, describeEvent(e));
    if (ops.length === 0) {
      finish();
      return true;
    }
    this.staged = ops;
    this.hooks.queue.schedule(this.hooks.queue.now + this.hooks.diskDelay(this), () => {
      finish();
      this.pump();
    });
    return false;
  }

  private afterPersist(rd: Ready<SimEntry>): void {
    const node = this.node!;
    // Duty 2: bring the state machine in line, then apply committed txns.
    if (rd.snapshotToInstall) {
      this.prepEpoch = -1;
      this.appliedSinceSnapshot = 0;
      this.sm = this.hooks.factory.restore(rd.snapshotToInstall.snapshot);
      this.resyncSessions();
    }
    if (rd.toTruncate?.rebuild) {
      this.prepEpoch = -1;
      const d = this.disk;
      const snapZxid = d.snapshot?.zxid ?? 0n;
      this.sm =
        d.snapshot !== undefined ? this.hooks.factory.restore(d.snapshot.data) : this.hooks.factory.empty();
      for (const e of d.log) if (e.zxid > snapZxid && e.zxid <= rd.toTruncate.zxid) this.applyOne(e, false);
      if (this.sm.lastZxid !== rd.toTruncate.zxid) {
        throw new Error(
          `invariant: rebuild to ${rd.toTruncate.zxid.toString(16)} reached ${this.sm.lastZxid.toString(16)}`,
        );
      }
      this.resyncSessions();
    }
    for (const e of rd.toApply) this.applyOne(e, true);
    // Duty 3: syncs whose point is applied: the reads behind them are linearizable now.
    for (const s of rd.syncsDone) {
      const p = this.pendingSyncReads.get(s.reqId);
      if (p === undefined) continue;
      this.pendingSyncReads.delete(s.reqId);
      if (!s.ok) p.reply({ ok: false });
      else {
        if (this.sm.lastZxid < s.zxid)
          throw new Error('invariant: sync answered before its zxid was applied');
        p.reply({ ok: true, result: this.sm.read(p.path), zxid: this.sm.lastZxid });
      }
    }
    // Duty 4: send, attaching snapshots.
    for (const m of rd.messages) {
      if (m.type === 'snap') {
        if (this.sm.lastZxid !== m.zxid) {
          throw new Error(
            `invariant: SNAP at ${m.zxid.toString(16)} but state is at ${this.sm.lastZxid.toString(16)}`,
          );
        }
        m.snapshot = this.sm.snapshot();
      }
      if ('conn' in m && 'seq' in m && this.brokenConns.has(`${m.to}:${m.conn}`)) continue;
      this.hooks.network.send(this.id, m.to, { kind: 'zab', msg: m });
      if (hasFromLog(m)) this.streamFromLog(m, m.fromLog);
    }
    // Leader-owned expiry: turn the event into a closeSession txn.
    for (const e of rd.events) {
      if (e.type === 'sessionExpired' && node.role === 'leading')
        this.forward({ kind: 'closeSession', sessionId: e.sessionId });
    }
  }

  /** Tells the node where the durable log starts (or nothing, in the plain mode). */
  private tellLogStart(): void {
    const node = this.node;
    if (node === undefined || !this.logConfig.serveFromLog) return;
    const first = this.disk.firstLogZxid;
    if (first === undefined) node.setLogStart(undefined);
    else
      node.setLogStart(
        first > this.logFloorMin ? first : this.logFloorMin + 1n,
        this.logConfig.maxLogEntries,
      );
  }

  /**
   * The older part of a DIFF/TRUNC, read from the durable log (never from the node's memory), as
   * the real shell streams it: the entries after `m.zxid`, up to `range.to` and at most `count` of
   * them, as PROPOSALs on the reserved sequence numbers. If the log cannot produce exactly those
   * (fewer, or not ending at `range.to`), the connection breaks after what was sent (a prefix of
   * the history, which the learner may keep): nothing more reaches that learner on it, so it
   * starts over, and the floor rises so the retry is a SNAP.
   */
  private streamFromLog(m: Extract<ZabMessage<SimEntry>, { type: 'diff' | 'trunc' }>, range: LogRange): void {
    const entries: SimEntry[] = [];
    for (const e of this.disk.log) {
      if (e.zxid <= m.zxid) continue;
      if (e.zxid > range.to || entries.length === range.count) break;
      entries.push(e);
    }
    this.injectStreamBugs(m, entries);
    entries.forEach((entry, i) => {
      const msg: ZabMessage<SimEntry> = {
        type: 'proposal',
        from: m.from,
        to: m.to,
        conn: m.conn,
        seq: m.seq + 1 + i,
        epoch: m.epoch,
        entry,
      };
      this.hooks.network.send(this.id, m.to, { kind: 'zab', msg });
    });
    const last = entries[entries.length - 1]?.zxid ?? m.zxid;
    if (entries.length === range.count && (range.count === 0 || last === range.to)) {
      this.logStats.logSyncs++;
      this.logStats.logSyncEntries += entries.length;
      return;
    }
    this.logStats.logSyncFailures++;
    this.brokenConns.add(`${m.to}:${m.conn}`);
    const lastZxid = this.node?.lastZxid ?? 0n;
    if (this.logFloorMin < lastZxid) this.logFloorMin = lastZxid;
    this.hooks.onEvent(
      this.id,
      `log stream to ${m.to} from ${m.zxid.toString(16)} broke: ${entries.length} of ${range.count} entries, to ${last.toString(16)}`,
    );
  }

  /**
   * Deliberate shell bugs past the check (tests prove the end checks catch them): a range read one
   * entry low (the shared point itself; the last one missed), or one entry dropped and the last
   * sent twice to fill the reserved slots.
   */
  private injectStreamBugs(m: { zxid: bigint }, entries: SimEntry[]): void {
    const faults = this.hooks.shellFaults;
    if (faults.includes('fromLogOffByOne')) {
      const shared = this.disk.log.find((e) => e.zxid === m.zxid);
      if (shared !== undefined) {
        entries.unshift(shared);
        entries.pop();
      }
    }
    if (faults.includes('fromLogSkipEntry') && entries.length >= 2) {
      entries.splice(1, 1);
      entries.push(entries[entries.length - 1]!);
    }
  }

  /**
   * A periodic local snapshot (ZooKeeper's snapCount), then a log purge. Only of a committed state
   * whose zxid the durable log holds (a restart replays the uncommitted tail: wait for the commit).
   */
  private maybeSnapshot(): void {
    const every = this.logConfig.snapshotEvery;
    const node = this.node;
    if (every <= 0 || node === undefined || this.appliedSinceSnapshot < every) return;
    const z = this.sm.lastZxid;
    const d = this.disk;
    if (z > node.committedZxid || z <= (d.snapshot?.zxid ?? 0n) || z > d.lastZxid) return;
    if (!d.log.some((e) => e.zxid === z)) return;
    d.takeSnapshot(z, this.sm.snapshot());
    this.ownSnapshotZxid = z;
    this.appliedSinceSnapshot = 0;
    this.logStats.localSnapshots++;
    d.purge(this.logConfig.keepBelowSnapshot);
    this.tellLogStart();
    this.hooks.onEvent(
      this.id,
      `local snapshot at ${z.toString(16)}, log from ${d.firstLogZxid?.toString(16) ?? '-'}`,
    );
  }

  private applyOne(e: SimEntry, delivered: boolean): void {
    this.appliedSinceSnapshot++;
    const result = this.sm.apply(e);
    this.hooks.onApply(this.id, e, this.sm.digest(), delivered);
    if (e.kind === 'createSession') this.node?.trackSession(e.sessionId, e.timeoutTicks);
    if (e.kind === 'closeSession') this.node?.untrackSession(e.sessionId);
    const token = this.prepTokens.get(e.zxid);
    if (token !== undefined) {
      this.prepTokens.delete(e.zxid);
      this.sm.settle?.(token);
    }
    if (delivered && (e.kind === 'op' || e.kind === 'txn')) {
      const key = `${e.clientId}:${e.reqId}`;
      const reply = this.pendingWrites.get(key);
      if (reply !== undefined) {
        this.pendingWrites.delete(key);
        reply({ ok: true, result, zxid: e.zxid });
      }
    }
  }

  private resyncSessions(): void {
    const node = this.node;
    if (node === undefined) return;
    const live = new Set(this.sm.sessions());
    for (const s of node.trackedSessions()) if (!live.has(s)) node.untrackSession(s);
    for (const s of live) node.trackSession(s, SIM_SESSION_TIMEOUT_TICKS);
  }

  private guard(fn: () => void): void {
    if (this.error !== undefined) return;
    try {
      fn();
    } catch (e) {
      this.fail(e);
    }
  }

  private fail(e: unknown): void {
    this.error = e instanceof Error ? e : new Error(String(e));
    this.hooks.onEvent(this.id, `ERROR ${this.error.message}`);
  }
}

/** A DIFF/TRUNC whose older part the shell streams from its durable log. */
function hasFromLog(
  m: ZabMessage<SimEntry>,
): m is Extract<ZabMessage<SimEntry>, { type: 'diff' | 'trunc' }> & { fromLog: LogRange } {
  return (m.type === 'diff' || m.type === 'trunc') && m.fromLog !== undefined;
}

/** Identity of a forwarded request, for dropping network duplicates. */
function forwardKey(body: SimEntryBody): string | undefined {
  if (body.kind === 'op') return `${body.clientId}:${body.reqId}`;
  if (body.kind === 'createSession') return `cs:${body.sessionId}`;
  return undefined;
}

function describeEvent(e: Ready<SimEntry>['events'][number]): string {
  switch (e.type) {
    case 'roleChanged':
      return `role ${e.role} leader=${e.leaderId ?? '-'}`;
    case 'leaderEstablished':
      return `established epoch ${e.epoch} committed ${e.committedZxid.toString(16)}`;
    case 'synced':
      return `synced with ${e.leaderId} epoch ${e.epoch} via ${e.how}`;
    case 'learnerSynced':
      return (
        `syncing learner ${e.learner} via ${e.how} from ${e.fromZxid.toString(16)}` +
        (e.fromLog !== undefined ? ` (${e.fromLog.count} from the log)` : '')
      );
    case 'steppedDown':
      return `stepped down: ${e.reason}`;
    case 'learnerDropped':
      return `dropped learner ${e.learner}: ${e.reason}`;
    case 'abandonedLeader':
      return `abandoned leader ${e.leaderId}: ${e.reason}`;
    case 'sessionExpired':
      return `session ${e.sessionId} expired`;
  }
}
