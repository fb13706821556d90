import { mkdir } from 'node:fs/promises';
import type http from 'node:http';
import {
  BadArgumentsError,
  CloseCode,
  ErrorCode,
  type Txn,
  type TxnEntry,
  zxidCounter,
  zxidEpoch,
} from '@conclave/core';
import pino, { type Logger } from 'pino';
import type { WebSocket } from 'ws';
import { Database } from '../datatree/index.js';
import { Storage } from '../log/index.js';
import { Listener } from '../net/listener.js';
import { adminHandler, runAdminCommand } from '../server/admin.js';
import { type CleanupHost, CleanupTask, type SnapshotScheduler } from '../server/maintenance.js';
import { ServerMetrics } from '../server/metrics.js';
import { type ResolvedOptions, resolveOptions, type ServerOptions } from '../server/options.js';
import type { RequestPipeline } from '../server/pipeline.js';
import type { Proposal } from '../server/replicator.js';
import { SeededPrng, ZabNode } from '../zab/index.js';
import type {
  LogRange as ZabLogRange,
  Ready,
  ZabEvent,
  ZabMessage,
  ZabRole,
  ZabTimingConfig,
} from '../zab/types.js';
import type { EnsembleConfig, MemberConfig } from './config.js';
import type { ForwardedWrite, QuorumMessage } from './messages.js';
import { LeaderPrep } from './leader-prep.js';
import { ensembleMetrics, LatencyStats, type MemberStatus, modeOf } from './member-status.js';
import { isRoutedTxn, type RoutedTxn } from './routing-preparer.js';
import { buildServingPipeline } from './serving-pipeline.js';
import { admitClient } from './client-admission.js';
import { type LogSyncMessage, logSyncFrames } from './log-sync-stream.js';
import {
  DEFAULT_MAX_SNAPSHOT_BYTES,
  DEFAULT_SNAP_CHUNK_BYTES,
  SnapshotAssembler,
  SnapStreamError,
  snapshotFrames,
} from './snapshot-stream.js';
import { type PeerAddress, QuorumTransport } from './transport.js';

/** Options of {@link startMember}. */
export interface MemberOptions {
  config: EnsembleConfig;
  /** Which member of `config` this process is. */
  id: number;
  dataDir: string;
  /** Server options that are not fixed by the ensemble file (limits, fsync, superDigest, …). */
  server?: Omit<ServerOptions, 'dataDir' | 'port' | 'host' | 'memberId' | 'tickMs' | 'logger' | 'onFatal'>;
  /** Interval of the ZAB clock. Default min(100, tickMs): elections and failover are not paced by tickMs. */
  zabTickMs?: number;
  /** Overrides of the ZAB timing (in ZAB ticks). */
  timing?: Partial<ZabTimingConfig>;
  /** Seed of the election jitter. Default: from the clock. */
  seed?: number;
  /**
   * Leader: proposals in flight (proposed, not yet committed) before further writes are answered
   * THROTTLEDOP. Default 10 000 (the ZabNode's default).
   */
  maxOutstandingProposals?: number;
  logger?: Logger;
  /** The member stopped for good (log write failed, invariant broke): the process should exit. */
  onFatal?: (err: Error) => void;
}

/** A running ensemble member. */
export interface EnsembleMember {
  readonly id: number;
  /** `host:clientPort`. */
  readonly connectString: string;
  readonly adminUrl: string;
  /** The quorum port actually bound (the configured one, or the one picked for port 0). */
  readonly quorumPort: number;
  readonly role: ZabRole;
  readonly leaderId: number | undefined;
  readonly serving: boolean;
  readonly lastZxid: bigint;
  status(): MemberStatus;
  /** Stops serving, closes every connection, waits for pending log writes, closes storage. */
  close(): Promise<void>;
}

/** One serving period: a fresh request pipeline, as ZooKeeper builds a new ZooKeeperServer per leader. */
interface Serving {
  /** Distinguishes periods: a stopped period's pipeline must not act on the current one. */
  gen: number;
  pipeline: RequestPipeline;
  role: ZabRole;
  leaderId: number;
  epoch: number;
}

const hex = (z: bigint) => `0x${z.toString(16)}`;

/**
 * Proposals beyond maxOutstandingProposals the node still accepts: room for the writes the shell
 * does not throttle (createSession, closeSession, the leader's expiries), bounded for memory.
 */
const SESSION_OPS_HEADROOM = 1000;

type Frames = Iterable<QuorumMessage> | AsyncIterable<QuorumMessage>;

async function* concatFrames(head: Frames, tail: Iterable<QuorumMessage>): AsyncGenerator<QuorumMessage> {
  yield* head;
  yield* tail;
}

/**
 * Starts one ensemble member: recovers its data directory, joins the quorum on its quorum port
 * and serves clients on its client port whenever its ZAB node is serving.
 */
export async function startMember(options: MemberOptions): Promise<EnsembleMember> {
  const shell = new MemberShell(options);
  await shell.start();
  return shell;
}

/**
 * The network shell around {@link ZabNode}: it performs the node's Ready exactly per
 * zab/README.md ("The shell's duties") with the real Storage, Database, transport and client
 * pipeline. Only the leader preps; every member's pipeline routes its writes to the leader
 * ({@link RoutingPreparer}) and answers its own clients when it applies their txns.
 */
class MemberShell implements EnsembleMember {
  readonly id: number;
  private readonly me: MemberConfig;
  private readonly opts: ResolvedOptions;
  private readonly log: Logger;
  private readonly zabTickMs: number;
  private readonly maxOutstandingProposals: number;
  private readonly voterIds: Set<number>;
  private storage!: Storage;
  private db!: Database;
  private node!: ZabNode<TxnEntry>;
  private transport!: QuorumTransport;
  private listener: Listener | null = null;
  private ticker: NodeJS.Timeout | null = null;
  /** Container/TTL cleanup: runs on every member, acts only while this one leads and serves. */
  private cleanup: CleanupTask | null = null;
  private readonly metrics = new ServerMetrics();
  private serving_: Serving | null = null;
  /** The last pipeline built, kept for the admin endpoint while not serving. */
  private lastPipeline: RequestPipeline | null = null;
  /** Set while this member leads and serves. */
  private leadership: LeaderPrep | null = null;
  /** Periodic snapshots of the current serving period's database (every snapshotEveryTxns). */
  private snapshots: SnapshotScheduler | null = null;
  private readonly pendingExpiries = new Set<bigint>();
  /**
   * Leader, for admin: voting followers that ACKed NEWLEADER in this leadership's epoch (a
   * FOLLOWERINFO means the follower connects again and is syncing, not in sync).
   */
  private followersInSync = { epoch: -1, ids: new Set<number>() };
  /** The last leader→learner message received: where this member's leader stream stands. */
  private lastFromLeader: { from: number; conn: number; seq: number; epoch: number } | undefined;
  private readonly heldFollowerInfo = new Map<number, { msg: ZabMessage<TxnEntry>; atMs: number }>();
  private readonly syncWaiters = new Map<number, { resolve: () => void; gen: number }>();
  /** Connections waiting for a sync before their connect request is handled (see admitClient). */
  private readonly admissions = new Set<() => void>();
  /** Client sockets admitClient has not handed to a pipeline yet (closed when serving stops). */
  private readonly admitting = new Set<WebSocket>();
  /**
   * Leader: the member holding each session's client connection (ZooKeeper's session owner), for
   * the epoch it was recorded in. A write of the session forwarded by any other member is answered
   * SESSIONMOVED: it was sent by a connection the client has left, and applying it after the
   * writes the client has since made through its owner would break the session's FIFO order.
   */
  private owners: { epoch: number; bySession: Map<bigint, number> } = { epoch: -1, bySession: new Map() };
  /**
   * Writes this member forwarded, per session in order, with the connection that sent each
   * (so a SESSIONMOVED answer closes that connection, not a newer one of the same session).
   */
  private readonly inFlight = new Map<
    bigint,
    { cxid: number; conn: { close(code: number, why: string): void } | undefined }[]
  >();
  private nextSyncId = 1;
  /** Learner: SNAP streams being received from the leader. */
  private readonly snapIn: SnapshotAssembler;
  private nextSnapStream = 1;
  /** Leader: DIFF from the log only after this zxid (raised when reading failed, or by a SNAP install). */
  private logFloorMin = 0n;
  /** Leader: the connection each learner last announced in a FOLLOWERINFO. */
  private readonly learnerConns = new Map<number, number>();
  /** This member led at its last Ready (its sync streams are abandoned when that ends). */
  private streamingAsLeader = false;
  private servingGen = 0;
  private pumping = false;
  private closed = false;
  private fatal: Error | null = null;
  private readonly startedAtMs = Date.now();
  private readonly syncedBy = { diff: 0, trunc: 0, snap: 0 };
  private readonly latency = new LatencyStats();
  private rebuilds = 0;

  constructor(private readonly options: MemberOptions) {
    this.id = options.id;
    const me = options.config.members.find((m) => m.id === options.id);
    if (me === undefined) {
      throw new BadArgumentsError(`member ${options.id} is not listed in the ensemble config`);
    }
    this.me = me;
    const tickMs = options.config.tickMs ?? 2000;
    this.opts = resolveOptions({
      ...options.server,
      dataDir: options.dataDir,
      host: me.host,
      port: me.clientPort,
      tickMs,
      memberId: me.id,
    });
    this.zabTickMs = options.zabTickMs ?? Math.min(100, tickMs);
    this.maxOutstandingProposals = options.maxOutstandingProposals ?? 10_000;
    this.voterIds = new Set(options.config.members.filter((m) => m.role === 'voter').map((m) => m.id));
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ member: me.id });
    this.snapIn = new SnapshotAssembler(
      options.config.quorum?.maxSnapshotBytes ?? DEFAULT_MAX_SNAPSHOT_BYTES,
    );
  }

  // ------------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    await mkdir(this.opts.dataDir, { recursive: true });
    this.storage = await Storage.open({
      dir: this.opts.dataDir,
      fsync: this.opts.fsync,
      snapshotsToKeep: this.opts.snapshotsToKeep,
    });
    try {
      const { entries, snapshotZxid } = await this.recover();
      // The node's history (its epoch records) starts at this snapshot: it cannot count the log
      // entries the purge kept below it, so DIFFs from the log start after it.
      this.logFloorMin = snapshotZxid;
      const epochs = await this.storage.readEpochs();
      const voters = [...this.voterIds];
      const observers = this.options.config.members.filter((m) => m.role === 'observer').map((m) => m.id);
      const ticksOf = (ms: number) => Math.max(1, Math.ceil(ms / this.zabTickMs));
      const timing: ZabTimingConfig = {
        electionTimeoutTicks: ticksOf(200),
        finalizeWaitTicks: ticksOf(200),
        // ZooKeeper's defaults: initLimit 10 ticks, syncLimit 5 ticks, pings every half tick.
        initLimitTicks: ticksOf(10 * this.opts.tickMs),
        syncLimitTicks: ticksOf(5 * this.opts.tickMs),
        heartbeatTicks: ticksOf(this.opts.tickMs / 2),
        ...this.options.timing,
      };
      this.node = new ZabNode<TxnEntry>({
        id: this.id,
        voters,
        observers,
        prng: new SeededPrng(this.options.seed ?? (Date.now() ^ (this.id << 20)) >>> 0),
        timing,
        // The node's bound is the hard one (memory); the shell throttles client writes at the
        // configured limit and lets session opens/closes and expiries use the headroom above it.
        maxOutstandingProposals: this.maxOutstandingProposals + SESSION_OPS_HEADROOM,
        persisted: {
          acceptedEpoch: epochs.acceptedEpoch,
          currentEpoch: epochs.currentEpoch,
          snapshotZxid,
          entries,
        },
      });
      this.resyncSessions();
      this.log.info(
        { lastZxid: hex(this.db.lastZxid), snapshotZxid: hex(snapshotZxid), ...epochs },
        'recovered',
      );
      const peers = new Map<number, PeerAddress>();
      for (const m of this.options.config.members) {
        if (m.id !== this.id) peers.set(m.id, { host: m.host, port: m.quorumPort });
      }
      this.transport = new QuorumTransport({
        id: this.id,
        peers,
        host: this.me.host,
        port: this.me.quorumPort,
        onMessage: (from, msg) => this.onQuorumMessage(from, msg),
        onPeerDown: (peer) => this.onPeerDown(peer),
        log: this.log,
        ...(this.options.config.quorum?.maxQueuedBytes !== undefined
          ? { maxQueuedBytes: this.options.config.quorum.maxQueuedBytes }
          : {}),
      });
      await this.transport.start();
      this.listener = await Listener.start({
        host: this.opts.host,
        port: this.opts.port,
        maxPayloadBytes: 2 * this.opts.maxFrameBytes,
        maxConnectionsPerIp: this.opts.maxConnectionsPerIp,
        onConnection: (ws, address, port) => {
          const s = this.serving_;
          if (s === null) ws.close(CloseCode.NOT_SERVING, 'this member is not serving (no leader yet)');
          else
            admitClient(ws, {
              maxFrameBytes: this.opts.maxFrameBytes,
              maxEarlyFrames: this.opts.maxOutstandingRequests,
              knows: (sessionId) => this.db.sessions.has(sessionId),
              sync: () => this.syncForAdmission(),
              handshakeTimeoutMs: this.opts.maxSessionTimeoutMs,
              pending: this.admitting,
              accept: () => {
                if (this.serving_ !== s) return false;
                s.pipeline.accept(ws, address, port);
                return true;
              },
            });
        },
        onHttpRequest: (req, res) => this.admin(req, res),
      });
      this.cleanup = new CleanupTask(this.cleanupHost(), this.opts.cleanupIntervalMs);
      this.cleanup.start();
      this.ticker = setInterval(() => {
        this.guard(() => this.node.tick());
        this.kick();
      }, this.zabTickMs);
      this.kick();
    } catch (err) {
      await this.transport?.close();
      await this.listener?.close(CloseCode.NOT_SERVING, 'member failed to start');
      await this.storage.close();
      throw err;
    }
  }

  /** Snapshot + whole-log replay (ZooKeeper replays the uncommitted tail too; the node knows). */
  private async recover(): Promise<{ entries: TxnEntry[]; snapshotZxid: bigint }> {
    const entries: TxnEntry[] = [];
    const maxDataBytes = this.opts.maxDataBytes;
    const r = await this.storage.recover<Database>({
      empty: () => new Database({ maxDataBytes }),
      load: (chunks) => Database.restore(chunks, { maxDataBytes }),
      apply: (db, entry) => {
        db.apply(entry);
        entries.push(entry);
      },
    });
    this.db = r.state;
    return { entries, snapshotZxid: r.snapshotZxid };
  }

  private closing: Promise<void> | null = null;

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      if (this.ticker !== null) clearInterval(this.ticker);
      this.cleanup?.stop();
      this.stopServing('member shutting down');
      await this.listener?.close(CloseCode.NOT_SERVING, 'member shutting down');
      await this.transport.close();
      // Let an in-flight Ready finish its disk work before the log closes under it.
      const deadline = Date.now() + 5000;
      while (this.pumping && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      await this.snapshots?.idle();
      await this.storage.close();
      this.log.info('closed');
    })();
    return this.closing;
  }

  // ------------------------------------------------------------------ public view

  get connectString(): string {
    return `${this.me.host}:${this.listener?.port ?? this.me.clientPort}`;
  }
  get adminUrl(): string {
    return `http://${this.connectString}/admin`;
  }
  get quorumPort(): number {
    return this.transport?.port ?? this.me.quorumPort;
  }
  get role(): ZabRole {
    return this.node.role;
  }
  get leaderId(): number | undefined {
    return this.node.leaderId;
  }
  get serving(): boolean {
    return this.serving_ !== null;
  }
  get lastZxid(): bigint {
    return this.db.lastZxid;
  }

  status(): MemberStatus {
    return {
      id: this.id,
      role: this.node.role,
      leaderId: this.node.leaderId ?? null,
      serving: this.serving_ !== null,
      acceptedEpoch: this.node.acceptedEpoch,
      currentEpoch: this.node.currentEpoch,
      lastLoggedZxid: hex(this.node.lastZxid),
      lastAppliedZxid: hex(this.db.lastZxid),
      committedZxid: hex(this.node.committedZxid),
      sessions: this.db.sessions.size,
      droppedMessages: this.transport.dropped,
      synced: { ...this.syncedBy },
      rebuilds: this.rebuilds,
      learners: this.node.status().learners,
      syncedFollowers:
        this.node.role === 'leading' && this.followersInSync.epoch === this.node.acceptedEpoch
          ? this.followersInSync.ids.size
          : 0,
      sessionOwners: this.sessionOwnerCounts(),
      proposalLatencyMs: this.latency.summary(),
    };
  }

  private sessionOwnerCounts(): Record<number, number> {
    const counts: Record<number, number> = {};
    if (this.node.role !== 'leading' || this.owners.epoch !== this.node.currentEpoch) return counts;
    for (const member of this.owners.bySession.values()) counts[member] = (counts[member] ?? 0) + 1;
    return counts;
  }

  private admin(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/$/, '');
    if (path === '/admin/ensemble') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(this.status())}\n`);
      return;
    }
    const pipeline = this.serving_?.pipeline ?? this.lastPipeline;
    if (pipeline === null) {
      if (path === '/admin/ruok') {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('imok');
        return;
      }
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`member ${this.id} has not served yet (role ${this.node.role}); try /admin/ensemble\n`);
      return;
    }
    const view = {
      pipeline,
      metrics: this.metrics,
      mode: this.serving_ === null ? `${this.node.role} (not serving)` : modeOf(this.node.role),
      dataDir: this.opts.dataDir,
      startedAtMs: this.startedAtMs,
      storage: this.storage,
    };
    if (path === '/admin/mntr' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(runAdminCommand('mntr', view) + ensembleMetrics(this.status()));
      return;
    }
    adminHandler(() => view)(req, res);
  }

  // ------------------------------------------------------------------ inputs

  private onQuorumMessage(from: number, msg: QuorumMessage): void {
    if (this.closed || this.fatal !== null) return;
    switch (msg.kind) {
      case 'zab': {
        const m = msg.msg;
        if (m.to !== this.id || m.from !== from) return;
        if (m.type === 'followerInfo' && this.node.role !== 'leading') {
          // A learner may conclude the election a moment before its leader does. In ZooKeeper its
          // connection to the leader's learner port is simply accepted once the leader leads; the
          // node drops a FOLLOWERINFO that arrives while LOOKING, so hold it until then.
          this.heldFollowerInfo.set(from, { msg: m, atMs: Date.now() });
          return;
        }
        // The learner started over (a new connection; a duplicate of the same one is ignored by
        // the node): whatever of its old sync is still streaming is stale and would hold the new
        // one (NEWEPOCH, …) behind it.
        if (m.type === 'followerInfo' && this.learnerConns.get(from) !== m.conn) {
          this.learnerConns.set(from, m.conn);
          this.transport.cancelStreams(from);
        }
        if (m.type === 'snap' && !this.takeStreamedSnapshot(from, m)) return;
        this.noteFollowerSync(m);
        if ('seq' in m) this.lastFromLeader = { from: m.from, conn: m.conn, seq: m.seq, epoch: m.epoch };
        this.guard(() => this.node.step(m));
        this.kick();
        return;
      }
      case 'forward':
        this.leaderTake(from, msg.write);
        return;
      case 'refused':
        // Only the leader of the current serving period can strand one of its writes.
        if (this.serving_ !== null && this.serving_.leaderId === from)
          this.onRefused(msg.sessionId, msg.cxid, msg.err);
        return;
      case 'owner':
        // Only for a live session: an announcement overtaken by the session's closeSession
        // (applied here first) would leave an entry nobody deletes.
        if (this.db.sessions.has(msg.sessionId)) this.recordOwner(msg.sessionId, from);
        return;
      case 'snap-chunk':
        try {
          this.snapIn.chunk(from, msg);
        } catch (err) {
          this.badSnapStream(from, err);
        }
        return;
      case 'hello':
        return;
    }
  }

  /**
   * Learner: a streamed SNAP's trailer arrived. Puts the reassembled, verified snapshot in the
   * message for the node; false (and the leader connection is treated as broken, so the node
   * starts over) when the stream was incomplete or corrupt.
   */
  private takeStreamedSnapshot(from: number, m: Extract<ZabMessage<TxnEntry>, { type: 'snap' }>): boolean {
    try {
      m.snapshot = this.snapIn.finish(from, m.snapshot);
      return true;
    } catch (err) {
      this.badSnapStream(from, err);
      return false;
    }
  }

  private badSnapStream(from: number, err: unknown): void {
    if (!(err instanceof SnapStreamError)) {
      this.die(err); // not the stream's fault: a bug here
      return;
    }
    this.log.warn({ leader: from, err: err.message }, 'bad SNAP stream from the leader; starting over');
    // Break the connection: the rest of this stream is never read (nor warned about chunk by
    // chunk), and the node sees the reset (onPeerDown) and re-syncs.
    this.transport.disconnect(from);
  }

  /** Leader: follows which voting followers are in sync (the node's own record is not exposed). */
  private noteFollowerSync(m: ZabMessage<TxnEntry>): void {
    if (this.node.role !== 'leading') return;
    const epoch = this.node.acceptedEpoch;
    if (this.followersInSync.epoch !== epoch) this.followersInSync = { epoch, ids: new Set() };
    if (m.type === 'followerInfo') this.followersInSync.ids.delete(m.from);
    else if (m.type === 'ackNewLeader' && this.voterIds.has(m.from)) this.followersInSync.ids.add(m.from);
  }

  /**
   * The TCP connection to our leader broke. ZooKeeper's learner notices at once (its read fails)
   * and starts over; the node would otherwise wait syncLimit of silence. The node treats a gap in
   * the leader's per-connection sequence as exactly that ("a gap is a broken connection, and the
   * learner starts over exactly as after a TCP reset", zab/README.md), so the shell reports the
   * reset as one: a ping that skips a sequence number on that connection.
   */
  private onPeerDown(peer: number): void {
    this.snapIn.drop(peer);
    const last = this.lastFromLeader;
    const role = this.node.role;
    if (this.closed || this.fatal !== null || last === undefined || last.from !== peer) return;
    if ((role !== 'following' && role !== 'observing') || this.node.leaderId !== peer) return;
    this.lastFromLeader = undefined;
    this.log.info({ leader: peer }, 'connection to the leader lost; starting over');
    const reset = {
      type: 'ping',
      from: peer,
      to: this.id,
      conn: last.conn,
      seq: last.seq + 2,
      epoch: last.epoch,
      round: -1,
      zxid: 0n,
    } as const satisfies ZabMessage<TxnEntry>;
    this.guard(() => this.node.step(reset));
    this.kick();
  }

  /** The pipeline's proposal: a routed request for the leader (this member or another). */
  private route(p: Proposal): void {
    const txn = p.txn as Txn | RoutedTxn;
    if (!isRoutedTxn(txn)) throw new Error('invariant: an ensemble pipeline proposed an unrouted txn');
    const write: ForwardedWrite = { sessionId: p.sessionId, cxid: p.cxid, request: txn.request };
    const s = this.serving_;
    const leader = this.node.leaderId;
    if (s === null || leader === undefined) {
      this.onRefused(p.sessionId, p.cxid, ErrorCode.CONNECTIONLOSS);
      return;
    }
    // Recorded before it leaves (a leader that is this member may refuse it synchronously). The
    // sending connection is the session's bound one (undefined while a createSession is made).
    const conn = s.pipeline.bySession.get(p.sessionId);
    let queue = this.inFlight.get(p.sessionId);
    if (queue === undefined) this.inFlight.set(p.sessionId, (queue = []));
    queue.push({ cxid: p.cxid, conn });
    if (leader === this.id) this.leaderTake(this.id, write);
    else this.transport.send(leader, { kind: 'forward', write });
  }

  /**
   * A client connection of the session is now bound here (created or resumed). Tells the leader
   * before any write of that connection is forwarded (one FIFO link), so the leader can refuse
   * what the session's previous connection, on another member, still has in flight.
   */
  private announceOwner(sessionId: bigint): void {
    const leader = this.node.leaderId;
    if (leader === this.id) this.recordOwner(sessionId, this.id);
    else if (leader !== undefined) this.transport.send(leader, { kind: 'owner', sessionId });
  }

  /** Leader: `member` holds the session's client connection from now on. */
  private recordOwner(sessionId: bigint, member: number): void {
    if (this.node.role !== 'leading') return;
    this.ownersNow().set(sessionId, member);
  }

  /** Owners recorded in this leader's current epoch (an earlier epoch's are stale: every client reconnected since). */
  private ownersNow(): Map<bigint, number> {
    const epoch = this.node.currentEpoch;
    if (this.owners.epoch !== epoch) this.owners = { epoch, bySession: new Map() };
    return this.owners.bySession;
  }

  /** Leader: proposals logged but not yet committed (what ZabNode bounds by maxOutstandingProposals). */
  private proposalsInFlight(): number {
    const last = this.node.lastZxid;
    const committed = this.node.committedZxid;
    if (zxidEpoch(last) !== zxidEpoch(committed)) return zxidCounter(last);
    return zxidCounter(last) - zxidCounter(committed);
  }

  /**
   * Leader: prep a routed request against the database plus outstanding changes and propose
   * the txn. Error txns are ordered too (as ZooKeeper does), so the origin answers every write on
   * apply, in its session's order. `fromClient` false: the server's own write (an expiry's
   * closeSession), which no owner check or throttle applies to.
   */
  private leaderTake(origin: number, w: ForwardedWrite, fromClient = true): void {
    const lead = this.leadership;
    if (lead === null || this.node.role !== 'leading' || !this.node.serving) {
      this.refuse(origin, w, ErrorCode.CONNECTIONLOSS, fromClient);
      return;
    }
    // Checked before prep: a write prepped but never proposed would leave its change outstanding
    // (seen by later preps) until its token settles.
    // ZooKeeper never throttles closeSession; a createSession is as small, and refusing it only
    // turns overload into a reconnect storm. Both may go past the limit (SESSION_OPS_HEADROOM).
    const sessionOp = w.request.kind === 'createSession' || w.request.kind === 'closeSession';
    if (fromClient && !sessionOp && this.proposalsInFlight() >= this.maxOutstandingProposals) {
      this.refuse(origin, w, ErrorCode.THROTTLEDOP, fromClient);
      return;
    }
    const now = Date.now();
    // ZooKeeper's checkSession(sessionId, owner): a write from a member the session has left.
    // Never for closeSession (ZooKeeper skips it too): a close is the session's last request, and
    // refusing one sent while the client moves would keep the session and its ephemerals alive.
    const owner = this.ownersNow().get(w.sessionId);
    const moved = fromClient && !sessionOp && owner !== undefined && owner !== origin;
    const { txn, token } = moved
      ? { txn: { type: 'error', err: ErrorCode.SESSIONMOVED } as Txn, token: undefined }
      : lead.prep(w, now, this.log);
    const r = this.node.propose({ sessionId: w.sessionId, cxid: w.cxid, time: now, txn });
    if (!r.ok) {
      if (token !== undefined) lead.abandoned(token);
      this.refuse(
        origin,
        w,
        r.reason === 'throttled' ? ErrorCode.THROTTLEDOP : ErrorCode.CONNECTIONLOSS,
        fromClient,
      );
      return;
    }
    if (txn.type === 'createSession') this.recordOwner(w.sessionId, origin);
    lead.proposed(r.zxid, token);
    this.kick();
  }

  /**
   * The standalone server's CleanupTask, pointed at this member: candidates come from the applied
   * database, and the leader preps each delete with its real Preparer and proposes it as a
   * server-owned txn (session 0, cxid 0), which every member applies like any other.
   */
  private cleanupHost(): CleanupHost {
    const shell = this;
    return {
      get db() {
        return shell.db;
      },
      replicator: {
        get isLeader() {
          return shell.leadership !== null && shell.node.role === 'leading' && shell.node.serving;
        },
      },
      proposeServerDelete: (path) => {
        const lead = this.leadership;
        if (lead === null || this.closed || this.fatal !== null) return false;
        const now = Date.now();
        const prepped = lead.reap(path, now);
        if (prepped === undefined) return false;
        const r = this.node.propose({ sessionId: 0n, cxid: 0, time: now, txn: prepped.txn });
        if (!r.ok) {
          lead.abandoned(prepped.token);
          return false;
        }
        lead.proposed(r.zxid, prepped.token);
        this.kick();
        return true;
      },
    };
  }

  private refuse(origin: number, w: ForwardedWrite, err: number, fromClient: boolean): void {
    if (!fromClient) {
      // An expiry's closeSession: keep it pending; proposeExpiries retries after the next Ready.
      if (w.request.kind === 'closeSession') this.pendingExpiries.add(w.sessionId);
      return;
    }
    if (origin === this.id) this.onRefused(w.sessionId, w.cxid, err);
    else this.transport.send(origin, { kind: 'refused', sessionId: w.sessionId, cxid: w.cxid, err });
  }

  /**
   * The leader refused a write of this member's session: answer just that write with `err`.
   * THROTTLEDOP (overload) fails only that write: the client may retry it, and no one else is
   * disturbed (restarting the serving period would turn overload into a reconnect storm). Any
   * other refusal means the leader no longer leads: that session's connection is closed too, so its
   * client reconnects (CONNECTIONLOSS), to this member once it serves again or to another.
   */
  private onRefused(sessionId: bigint, cxid: number, err: number): void {
    const s = this.serving_;
    this.forgetInFlight(sessionId, cxid);
    if (s === null) return; // the period ended: its connections are closed already
    this.log.debug({ session: hex(sessionId), cxid, err }, 'write refused by the leader');
    s.pipeline.abandon(sessionId, cxid, err);
    if (err !== ErrorCode.THROTTLEDOP) {
      s.pipeline.bySession
        .get(sessionId)
        ?.close(CloseCode.NOT_SERVING, 'the leader refused a write; reconnect');
      queueMicrotask(() => {
        this.updateServing();
        this.kick();
      });
    }
  }

  /** A sync for {@link admitClient}: true once done, false if the serving period ends first. */
  private syncForAdmission(): Promise<boolean> {
    const gen = this.serving_?.gen;
    if (gen === undefined) return Promise.resolve(false);
    return new Promise((resolve) => {
      const ended = () => resolve(false);
      this.admissions.add(ended);
      this.trySync(() => {
        this.admissions.delete(ended);
        resolve(true);
      }, gen);
    });
  }

  /** Drops `cxid` from the session's forwarded writes; returns its sending connection if it was there. */
  private forgetInFlight(
    sessionId: bigint,
    cxid: number,
  ): { conn: { close(code: number, why: string): void } | undefined } | undefined {
    const queue = this.inFlight.get(sessionId);
    if (queue === undefined) return undefined;
    const i = queue.findIndex((f) => f.cxid === cxid);
    if (i < 0) return undefined;
    const [f] = queue.splice(i, 1);
    if (queue.length === 0) this.inFlight.delete(sessionId);
    return f;
  }

  /**
   * The pipeline's sync: resolves once the node says every write committed before it is applied
   * here. A sync the node cannot take or fails (it is between leaders) is retried every ZAB tick
   * while this serving period lasts; when the period ends, its connections close (CONNECTIONLOSS).
   */
  private startSync(): Promise<void> {
    const gen = this.serving_?.gen;
    return new Promise((resolve) => {
      if (gen !== undefined) this.trySync(resolve, gen);
    });
  }

  private trySync(resolve: () => void, gen: number): void {
    if (this.serving_?.gen !== gen || this.closed) return;
    const reqId = this.nextSyncId++;
    let r: ReturnType<ZabNode<TxnEntry>['sync']> | undefined;
    this.guard(() => {
      r = this.node.sync(reqId);
    });
    if (r === undefined || !r.ok) {
      this.retrySync(resolve, gen);
      return;
    }
    this.syncWaiters.set(reqId, { resolve, gen });
    this.kick();
  }

  private retrySync(resolve: () => void, gen: number): void {
    queueMicrotask(() => {
      this.updateServing();
      this.kick();
    });
    setTimeout(() => this.trySync(resolve, gen), this.zabTickMs).unref();
  }

  // ------------------------------------------------------------------ the Ready loop

  private kick(): void {
    if (this.pumping || this.closed || this.fatal !== null) return;
    void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (!this.closed && this.fatal === null && this.node.hasReady()) {
        const log = this.logStart();
        this.node.setLogStart(log?.first, log?.maxEntries);
        const rd = this.node.ready();
        await this.persist(rd);
        this.afterPersist(rd);
        this.node.advance();
      }
    } catch (err) {
      this.die(err);
    } finally {
      this.pumping = false;
    }
  }

  /** Duty 1: snapshot install, truncate, append (group commit), epochs — durably, in this order. */
  private async persist(rd: Ready<TxnEntry>): Promise<void> {
    if (rd.snapshotToInstall !== undefined) {
      const { zxid, snapshot } = rd.snapshotToInstall;
      const chunks = (snapshot as Uint8Array[]).map((c) => new Uint8Array(c));
      const db = await Database.restore(chunks, { maxDataBytes: this.opts.maxDataBytes });
      if (db.lastZxid !== zxid) {
        throw new Error(`invariant: SNAP at ${hex(zxid)} restored a database at ${hex(db.lastZxid)}`);
      }
      this.stopServing('installing a snapshot from the leader');
      await this.snapshots?.idle();
      await this.storage.snapshot(zxid, chunks);
      // The snapshot is now the base; drop any divergent tail beyond it.
      await this.storage.truncate(zxid);
      this.db = db;
      this.resyncSessions();
      // The log now jumps from its older entries to this snapshot: no DIFF can be read across it.
      if (this.logFloorMin < zxid) this.logFloorMin = zxid;
      this.log.info({ zxid: hex(zxid) }, 'installed snapshot from the leader');
    }
    if (rd.toTruncate !== undefined) {
      const { zxid, rebuild } = rd.toTruncate;
      this.stopServing('truncating the log');
      await this.storage.truncate(zxid);
      if (rebuild) {
        // Storage recovers once per open: reopen to rebuild from the newest snapshot + log ≤ zxid.
        await this.snapshots?.idle();
        await this.storage.close();
        this.storage = await Storage.open({
          dir: this.opts.dataDir,
          fsync: this.opts.fsync,
          snapshotsToKeep: this.opts.snapshotsToKeep,
        });
        await this.recover();
        if (this.db.lastZxid !== zxid) {
          throw new Error(`invariant: rebuild to ${hex(zxid)} reached ${hex(this.db.lastZxid)}`);
        }
        this.resyncSessions();
        this.rebuilds++;
      }
      this.log.info({ zxid: hex(zxid), rebuild }, 'truncated the log');
    }
    if (rd.toAppend.length > 0) {
      // Issued together: the log's group commit covers them with one fdatasync.
      await Promise.all(rd.toAppend.map((e) => this.storage.append(e)));
    }
    const ep = rd.epochUpdates;
    if (ep?.acceptedEpoch !== undefined) await this.storage.writeAcceptedEpoch(ep.acceptedEpoch);
    if (ep?.currentEpoch !== undefined) await this.storage.writeCurrentEpoch(ep.currentEpoch);
  }

  /** Duties 2–4, then the shell's own bookkeeping (serving periods, leader-owned expiry). */
  private afterPersist(rd: Ready<TxnEntry>): void {
    for (const e of rd.toApply) this.applyEntry(e);
    for (const s of rd.syncsDone) {
      const resolve = this.syncWaiters.get(s.reqId);
      if (resolve === undefined) continue;
      this.syncWaiters.delete(s.reqId);
      if (s.ok) {
        if (this.db.lastZxid < s.zxid)
          throw new Error('invariant: sync answered before its zxid was applied');
        resolve.resolve();
      } else this.retrySync(resolve.resolve, resolve.gen);
    }
    this.cancelAbandonedStreams(rd);
    this.sendMessages(rd.messages);
    for (const e of rd.events) this.onEvent(e);
    // Expiries the leader could not propose yet (throttled) are retried after every Ready.
    if (this.pendingExpiries.size > 0) this.proposeExpiries();
    this.updateServing();
    this.releaseFollowerInfo();
  }

  /**
   * Leader: sync streams the node gave up on — to a learner it dropped, or to every learner once
   * it stops leading — are abandoned before this Ready's messages go out, so those (a new
   * NEWEPOCH, election notifications) are not queued behind a snapshot nobody will use.
   */
  private cancelAbandonedStreams(rd: Ready<TxnEntry>): void {
    const leading = this.node.role === 'leading';
    if (this.streamingAsLeader && !leading) {
      this.transport.cancelAllStreams();
      this.learnerConns.clear();
    }
    this.streamingAsLeader = leading;
    for (const e of rd.events) if (e.type === 'learnerDropped') this.transport.cancelStreams(e.learner);
  }

  /**
   * Duty 4. A learner's sync stream — SNAP, DIFF or TRUNC and everything after it to that learner
   * in this Ready (the proposals, COMMIT, NEWLEADER) — may be far bigger than the per-peer queue
   * bound, so it goes out as one paced transport stream; the rest is sent as usual.
   */
  private sendMessages(messages: ReadonlyArray<ZabMessage<TxnEntry>>): void {
    const streams = new Map<number, { head: Frames; tail: QuorumMessage[] }>();
    for (const m of messages) {
      const open = streams.get(m.to);
      if (open !== undefined) {
        open.tail.push({ kind: 'zab', msg: m });
        continue;
      }
      if (m.type === 'snap') {
        if (this.db.lastZxid !== m.zxid) {
          throw new Error(
            `invariant: SNAP at ${hex(m.zxid)} but the database is at ${hex(this.db.lastZxid)}`,
          );
        }
        // serialize() captures the image now (at m.zxid); the stream encodes and sends it chunk
        // by chunk as the learner's socket drains, while this member goes on applying.
        const chunkBytes = this.options.config.quorum?.snapChunkBytes ?? DEFAULT_SNAP_CHUNK_BYTES;
        const head = snapshotFrames(this.db.serialize(), m, this.nextSnapStream++, chunkBytes);
        streams.set(m.to, { head, tail: [] });
        continue;
      }
      if (m.type === 'diff' || m.type === 'trunc') {
        const head =
          m.fromLog !== undefined ? this.logSyncStream(m, m.fromLog) : [{ kind: 'zab', msg: m } as const];
        streams.set(m.to, { head, tail: [] });
        continue;
      }
      this.transport.send(m.to, { kind: 'zab', msg: m });
    }
    for (const [to, { head, tail }] of streams) this.transport.stream(to, concatFrames(head, tail));
  }

  /**
   * Leader: the first zxid from which Storage.readFrom can produce every entry, for DIFFs below
   * the node's in-memory window: the oldest segment's first entry, but never at or below a point
   * where reading failed or where this member's history jumps through an installed SNAP (the
   * node takes `floor + 1` to mean "everything after floor").
   */
  private logStart(): { first: bigint; maxEntries: number } | undefined {
    const log = this.storage.firstLogZxid;
    if (log === undefined) return undefined;
    const first = log > this.logFloorMin ? log : this.logFloorMin + 1n;
    // ZooKeeper's snapshotSizeFactor (0.33): stream from the log only while that costs less than a
    // third of a snapshot. Entry size is estimated from this log's appends so far.
    const st = this.storage.stats();
    const entryBytes = st.appends > 0 ? st.bytesWritten / st.appends : 1024;
    const maxEntries = Math.floor((0.33 * this.db.tree.approximateDataBytes) / entryBytes);
    return { first, maxEntries };
  }

  /**
   * A DIFF/TRUNC whose older part comes from the log (`fromLog`): the message, then the entries
   * (m.zxid, range.to] read from disk as PROPOSALs on the sequence numbers the node reserved.
   * Consumed by the transport at the pace of the learner's socket; what the node sends that learner
   * meanwhile waits behind it. If the log cannot produce exactly those entries, the stream fails
   * (the transport drops the connection and the learner starts over) and the floor is raised, so
   * the next attempt is a SNAP.
   */
  private async *logSyncStream(m: LogSyncMessage, range: ZabLogRange): AsyncGenerator<QuorumMessage> {
    try {
      yield* logSyncFrames(m, range, this.storage.readFrom(m.zxid));
    } catch (err) {
      if (this.logFloorMin < this.node.lastZxid) this.logFloorMin = this.node.lastZxid;
      this.log.warn({ err, learner: m.to }, 'DIFF from the log failed; the learner will get a SNAP');
      throw err;
    }
    this.log.info({ learner: m.to, from: hex(m.zxid), entries: range.count }, 'streamed a DIFF from the log');
  }

  /** Delivers held FOLLOWERINFOs once this member leads (those older than initLimit are stale). */
  private releaseFollowerInfo(): void {
    if (this.heldFollowerInfo.size === 0 || this.node.role === 'looking') return;
    const held = [...this.heldFollowerInfo.values()];
    this.heldFollowerInfo.clear();
    if (this.node.role !== 'leading') return;
    const freshAfter = Date.now() - 10 * this.opts.tickMs;
    for (const h of held) if (h.atMs >= freshAfter) this.guard(() => this.node.step(h.msg));
  }

  private applyEntry(e: TxnEntry): void {
    const serving = this.serving_;
    if (serving !== null) {
      serving.pipeline.commit(e);
      // Undefined: not a write forwarded from here (the pipeline answered those in commit).
      const mine = this.forgetInFlight(e.sessionId, e.cxid);
      if (e.txn.type === 'closeSession' && mine === undefined) {
        // Expired by the leader, or closed by its client through another member: a connection of
        // the session here is dead now; tell its client (ZooKeeper's FinalRequestProcessor too).
        serving.pipeline.bySession.get(e.sessionId)?.close(CloseCode.SESSION_EXPIRED, 'session expired');
      }
      // The leader refused a write this member forwarded because the session moved to another
      // member: the connection that sent it is one the client has left (ZooKeeper closes it too).
      if (mine?.conn !== undefined && e.txn.type === 'error' && e.txn.err === ErrorCode.SESSIONMOVED) {
        mine.conn.close(CloseCode.SESSION_CLOSED, 'the session moved to another member');
      }
    } else this.db.apply(e);
    if (e.txn.type === 'createSession')
      this.node.trackSession(e.sessionId, this.sessionTicks(e.txn.timeoutMs));
    else if (e.txn.type === 'closeSession') {
      this.node.untrackSession(e.sessionId);
      this.pendingExpiries.delete(e.sessionId);
      this.owners.bySession.delete(e.sessionId);
    }
    const ms = this.leadership?.applied(e.zxid);
    if (ms !== undefined) this.latency.record(ms);
  }

  private onEvent(e: ZabEvent): void {
    if (e.type === 'sessionExpired') {
      this.pendingExpiries.add(e.sessionId);
      this.proposeExpiries();
      return;
    }
    if (e.type === 'synced') this.syncedBy[e.how]++;
    if (e.type === 'learnerDropped') this.followersInSync.ids.delete(e.learner);
    this.log.info({ event: e }, 'zab');
  }

  /** Leader-owned expiry: a closeSession txn for every session the node declared expired. */
  private proposeExpiries(): void {
    if (this.leadership === null) return;
    for (const sessionId of [...this.pendingExpiries]) {
      if (!this.db.sessions.has(sessionId)) {
        this.pendingExpiries.delete(sessionId);
        continue;
      }
      this.log.info({ session: hex(sessionId) }, 'session expired');
      this.metrics.sessionsExpired++;
      this.pendingExpiries.delete(sessionId);
      this.leaderTake(this.id, { sessionId, cxid: 0, request: { kind: 'closeSession' } }, false);
    }
  }

  /** Starts or ends serving periods to follow the node's role and leader. */
  private updateServing(): void {
    const cur = this.serving_;
    const role = this.node.role;
    const leaderId = this.node.leaderId;
    const want = this.node.serving && leaderId !== undefined && !this.closed && this.fatal === null;
    if (
      cur !== null &&
      (!want || cur.role !== role || cur.leaderId !== leaderId || cur.epoch !== this.node.currentEpoch)
    ) {
      this.stopServing(`role ${role}, leader ${leaderId ?? 'none'}`);
    }
    if (!want || this.serving_ !== null) return;
    if (role === 'leading') {
      // Prep must see the whole history: wait until everything logged is applied.
      const established = this.node.establishedZxid;
      if (
        established === undefined ||
        this.db.lastZxid < established ||
        this.db.lastZxid !== this.node.lastZxid
      )
        return;
      this.leadership = new LeaderPrep(this.db, {
        maxDataBytes: this.opts.maxDataBytes,
        superDigest: this.opts.superDigest,
      });
    }
    this.startServing(role, leaderId);
    this.proposeExpiries();
  }

  private startServing(role: ZabRole, leaderId: number): void {
    const gen = ++this.servingGen;
    const { pipeline, snapshots } = buildServingPipeline({
      db: this.db,
      opts: this.opts,
      metrics: this.metrics,
      log: this.log,
      mode: modeOf(role),
      store: { snapshot: (z, c) => this.storage.snapshot(z, c), purge: () => this.storage.purge() },
      current: () => this.serving_?.gen === gen,
      route: (p) => this.route(p),
      sync: () => this.startSync(),
      touch: (sessionId) => this.node.touchSession(sessionId),
      bound: (sessionId) => this.announceOwner(sessionId),
    });
    this.snapshots = snapshots;
    pipeline.start();
    this.serving_ = { gen, pipeline, role, leaderId, epoch: this.node.currentEpoch };
    this.lastPipeline = pipeline;
    this.log.info({ role, leaderId, epoch: this.node.currentEpoch, zxid: hex(this.db.lastZxid) }, 'serving');
  }

  private stopServing(why: string): void {
    const s = this.serving_;
    this.leadership = null;
    if (s === null) return;
    this.serving_ = null;
    // Syncs and forwarded writes of this period die with its connections (CONNECTIONLOSS).
    this.syncWaiters.clear();
    this.inFlight.clear();
    for (const ended of this.admissions) ended();
    this.admissions.clear();
    for (const ws of [...this.admitting])
      ws.close(CloseCode.NOT_SERVING, 'this member stopped serving; reconnect');
    this.admitting.clear();
    s.pipeline.stop();
    this.log.info({ why }, 'stopped serving');
  }

  private sessionTicks(timeoutMs: number): number {
    return Math.max(1, Math.ceil(timeoutMs / this.zabTickMs));
  }

  /** Makes the node track exactly the database's sessions (after start, SNAP, rebuild). */
  private resyncSessions(): void {
    const live = this.db.sessions;
    for (const s of this.node.trackedSessions()) if (!live.has(s)) this.node.untrackSession(s);
    for (const [s, info] of live) this.node.trackSession(s, this.sessionTicks(info.timeoutMs));
  }

  private guard(fn: () => void): void {
    if (this.fatal !== null) return;
    try {
      fn();
    } catch (err) {
      this.die(err);
    }
  }

  /** Something we cannot continue from (a broken invariant, a failed log write): stop serving for good. */
  private die(err: unknown): void {
    if (this.fatal !== null) return;
    this.fatal = err instanceof Error ? err : new Error(String(err));
    this.log.fatal({ err: this.fatal }, 'member failed; no longer serving');
    this.stopServing('fatal error');
    this.options.onFatal?.(this.fatal);
  }
}
