import { mkdir } from 'node:fs/promises';
import type http from 'node:http';
import { BadArgumentsError, CloseCode, type Txn, type TxnEntry } from '@conclave/core';
import pino, { type Logger } from 'pino';
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
import type { Ready, ZabEvent, ZabMessage, ZabRole, ZabTimingConfig } from '../zab/types.js';
import type { EnsembleConfig, MemberConfig } from './config.js';
import type { ForwardedWrite, QuorumMessage } from './messages.js';
import { LeaderPrep } from './leader-prep.js';
import { ensembleMetrics, LatencyStats, type MemberStatus, modeOf } from './member-status.js';
import { isRoutedTxn, type RoutedTxn } from './routing-preparer.js';
import { buildServingPipeline } from './serving-pipeline.js';
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
  /** The last leader→learner message received: where this member's leader stream stands. */
  private lastFromLeader: { from: number; conn: number; seq: number; epoch: number } | undefined;
  private readonly heldFollowerInfo = new Map<number, { msg: ZabMessage<TxnEntry>; atMs: number }>();
  private readonly syncWaiters = new Map<number, () => void>();
  private nextSyncId = 1;
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
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ member: me.id });
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
      const epochs = await this.storage.readEpochs();
      const voters = this.options.config.members.filter((m) => m.role === 'voter').map((m) => m.id);
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
          else s.pipeline.accept(ws, address, port);
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
      proposalLatencyMs: this.latency.summary(),
    };
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
        if (this.serving_ !== null && this.serving_.leaderId === from) this.onRefused(msg.sessionId);
        return;
      case 'hello':
        return;
    }
  }

  /**
   * The TCP connection to our leader broke. ZooKeeper's learner notices at once (its read fails)
   * and starts over; the node would otherwise wait syncLimit of silence. The node treats a gap in
   * the leader's per-connection sequence as exactly that ("a gap is a broken connection, and the
   * learner starts over exactly as after a TCP reset", zab/README.md), so the shell reports the
   * reset as one: a ping that skips a sequence number on that connection.
   */
  private onPeerDown(peer: number): void {
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
    const leader = this.node.leaderId;
    if (leader === this.id) this.leaderTake(this.id, write);
    else if (leader !== undefined && this.serving_ !== null)
      this.transport.send(leader, { kind: 'forward', write });
    else this.onRefused(p.sessionId);
  }

  /**
   * Leader: prep a routed request against the database plus outstanding changes and propose
   * the txn. Error txns are ordered too (as ZooKeeper does), so the origin answers every write on
   * apply, in its session's order.
   */
  private leaderTake(origin: number, w: ForwardedWrite): void {
    const lead = this.leadership;
    if (lead === null || this.node.role !== 'leading' || !this.node.serving) {
      this.refuse(origin, w);
      return;
    }
    const now = Date.now();
    const { txn, token } = lead.prep(w, now, this.log);
    const r = this.node.propose({ sessionId: w.sessionId, cxid: w.cxid, time: now, txn });
    if (!r.ok) {
      lead.abandoned(token);
      this.refuse(origin, w);
      return;
    }
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

  private refuse(origin: number, w: ForwardedWrite): void {
    if (origin === this.id) this.onRefused(w.sessionId);
    else this.transport.send(origin, { kind: 'refused', sessionId: w.sessionId, cxid: w.cxid });
  }

  /**
   * A write of this member's session will never be applied. Its pipeline still waits for it, so
   * the serving period is restarted: every client reconnects and retries (CONNECTIONLOSS), as
   * after a leader change.
   */
  private onRefused(sessionId: bigint): void {
    this.log.info({ session: hex(sessionId) }, 'write refused by the leader; restarting the serving period');
    this.stopServing('the leader refused a write; reconnect');
    queueMicrotask(() => {
      this.updateServing();
      this.kick();
    });
  }

  /** The pipeline's sync: resolves once the node says every write committed before it is applied here. */
  private startSync(): Promise<void> {
    const reqId = this.nextSyncId++;
    let r: ReturnType<ZabNode<TxnEntry>['sync']> | undefined;
    this.guard(() => {
      r = this.node.sync(reqId);
    });
    if (r === undefined || !r.ok) {
      this.onRefused(0n);
      return new Promise(() => {}); // its connection is being closed: CONNECTIONLOSS
    }
    this.kick();
    return new Promise((resolve) => this.syncWaiters.set(reqId, resolve));
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
        resolve();
      } else this.onRefused(0n);
    }
    for (const m of rd.messages) {
      if (m.type === 'snap') {
        if (this.db.lastZxid !== m.zxid) {
          throw new Error(
            `invariant: SNAP at ${hex(m.zxid)} but the database is at ${hex(this.db.lastZxid)}`,
          );
        }
        m.snapshot = [...this.db.serialize()];
      }
      this.transport.send(m.to, { kind: 'zab', msg: m });
    }
    for (const e of rd.events) this.onEvent(e);
    this.updateServing();
    this.releaseFollowerInfo();
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
      // Expired by the leader (cxid 0; a client's own close carries its xid and is answered by
      // the pipeline): tell the client here, as the standalone server does.
      if (e.txn.type === 'closeSession' && e.cxid === 0) {
        serving.pipeline.bySession.get(e.sessionId)?.close(CloseCode.SESSION_EXPIRED, 'session expired');
      }
    } else this.db.apply(e);
    if (e.txn.type === 'createSession')
      this.node.trackSession(e.sessionId, this.sessionTicks(e.txn.timeoutMs));
    else if (e.txn.type === 'closeSession') {
      this.node.untrackSession(e.sessionId);
      this.pendingExpiries.delete(e.sessionId);
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
      this.leaderTake(this.id, { sessionId, cxid: 0, request: { kind: 'closeSession' } });
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
    // Syncs of this period die with its connections (their clients see CONNECTIONLOSS).
    this.syncWaiters.clear();
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
