import type { ZnodeResult } from '../linearizability/index.js';
import { ZabNode } from '../../zab/node.js';
import type { SeededPrng } from '../../zab/prng.js';
import type { Ready, ZabFault, ZabMessage, ZabTimingConfig } from '../../zab/types.js';
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
export type SimShellFault = 'sendBeforeFsync' | 'epochBeforeLog' | 'skipSessionCheck';

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
    this.guard(() => {
      if (d.snapshot !== undefined) this.sm = this.hooks.factory.restore(d.snapshot.data);
      for (const e of d.log) this.applyOne(e, false);
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
        snapshotZxid: d.snapshot?.zxid ?? 0n,
        entries: d.log,
      },
      faults: this.faults,
      maxCommittedLogEntries: this.maxCommittedLogEntries,
      ...(this.maxZxidCounter !== undefined ? { maxZxidCounter: this.maxZxidCounter } : {}),
    };
    this.node = new ZabNode<SimEntry>(config);
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
      const early = rd.messages.filter((m) => m.type !== 'snap');
      rd.messages = rd.messages.filter((m) => m.type === 'snap');
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
      this.sm = this.hooks.factory.restore(rd.snapshotToInstall.snapshot);
      this.resyncSessions();
    }
    if (rd.toTruncate?.rebuild) {
      this.prepEpoch = -1;
      const d = this.disk;
      this.sm =
        d.snapshot !== undefined ? this.hooks.factory.restore(d.snapshot.data) : this.hooks.factory.empty();
      for (const e of d.log) if (e.zxid <= rd.toTruncate.zxid) this.applyOne(e, false);
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
      this.hooks.network.send(this.id, m.to, { kind: 'zab', msg: m });
    }
    // Leader-owned expiry: turn the event into a closeSession txn.
    for (const e of rd.events) {
      if (e.type === 'sessionExpired' && node.role === 'leading')
        this.forward({ kind: 'closeSession', sessionId: e.sessionId });
    }
  }

  private applyOne(e: SimEntry, delivered: boolean): void {
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
      return `syncing learner ${e.learner} via ${e.how} from ${e.fromZxid.toString(16)}`;
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
