import {
  makeZxid,
  type TxnEntry,
  ZXID_COUNTER_ROLLOVER_LIMIT,
  type Zxid,
  zxidCounter,
  zxidEpoch,
} from '@conclave/core';
import { ZabHistory } from './history.js';
import type { Prng } from './prng.js';
import { FastLeaderElection } from './election.js';
import type { LeaderState, LearnerHandler, LearnerState } from './roles.js';
import { SessionTable } from './sessions.js';
import { planSync } from './sync-plan.js';
import { hasQuorum, quorumSize, quorumValue } from './quorum.js';
import type {
  NodeId,
  ProposeResult,
  Ready,
  SyncDone,
  SyncStartResult,
  Vote,
  ZabConfig,
  ZabEntry,
  ZabEvent,
  ZabFault,
  ZabMessage,
  ZabMessageBody,
  ZabRole,
  ZabTimingConfig,
} from './types.js';

type Msg<E extends ZabEntry, T extends ZabMessage<E>['type']> = Extract<ZabMessage<E>, { type: T }>;
type LeaderBody<E extends ZabEntry> = Extract<ZabMessageBody<E>, { seq: number }>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * One ZAB member as a pure, deterministic state machine (shape borrowed from etcd-raft): feed it
 * messages with {@link step}, time with {@link tick}, writes with {@link propose}; collect what to
 * persist, apply and send with {@link ready}; acknowledge with {@link advance}. It owns no timer,
 * socket, file or clock, and draws randomness only from the injected PRNG. See README.md for the
 * shell's duties.
 */
export class ZabNode<E extends ZabEntry = TxnEntry> {
  readonly id: NodeId;
  private readonly voters: ReadonlySet<NodeId>;
  private readonly observers: ReadonlySet<NodeId>;
  private readonly isObserver: boolean;
  private readonly prng: Prng;
  private readonly timing: Required<ZabTimingConfig>;
  private readonly maxCommittedLogEntries: number;
  private readonly maxZxidCounter: number;
  private readonly maxOutstandingProposals: number;
  private readonly faults: ReadonlySet<ZabFault>;

  // Persistent state (mirrors of what the shell made durable or will make durable).
  private acceptedEpochV: number;
  private currentEpochV: number;
  private readonly log: ZabHistory<E>;
  private snapshotZxidV: Zxid;

  // Volatile state.
  private durableZxid: Zxid;
  private committedZxidV: Zxid;
  private appliedZxidV: Zxid;
  private roleV: ZabRole = 'looking';
  private leaderIdV: NodeId | undefined;
  private now = 0;

  /** Fast leader election: active while LOOKING; its round and decided vote are advertised after. */
  private readonly election: FastLeaderElection;

  private leader: LeaderState | undefined;
  private learner: LearnerState | undefined;

  private readonly sessions = new SessionTable();
  /** Leader: the shell's durable log can stream every entry from this zxid on (see setLogStart). */
  private logStart: Zxid | undefined;
  /** Leader: the most entries worth streaming from that log rather than sending a SNAP. */
  private logMaxEntries = Number.POSITIVE_INFINITY;

  // Outputs accumulated for the next ready().
  private outMessages: ZabMessage<E>[] = [];
  private outAppend: E[] = [];
  private outSnapshot: { zxid: Zxid; snapshot: unknown } | undefined;
  private outTruncate: { zxid: Zxid; rebuild: boolean } | undefined;
  private outEpochs: { acceptedEpoch?: number; currentEpoch?: number } | undefined;
  private outEvents: ZabEvent[] = [];
  private outSyncsDone: SyncDone[] = [];
  private pendingAckZxid: Zxid | undefined;
  /** Local syncs confirmed, waiting for the apply point to reach `zxid`. */
  private syncWaits: Array<{ reqId: number; zxid: Zxid }> = [];
  private readyInFlight: { lastZxid: Zxid } | undefined;
  private lastReportedRole: ZabRole | undefined;
  private lastReportedServing = false;

  constructor(config: ZabConfig<E>) {
    this.id = config.id;
    this.voters = new Set(config.voters);
    this.observers = new Set(config.observers ?? []);
    this.isObserver = this.observers.has(config.id);
    if (this.isObserver === this.voters.has(config.id)) {
      throw new Error(`invariant: member ${config.id} must be exactly one of voters or observers`);
    }
    this.prng = config.prng;
    const t = config.timing;
    this.timing = {
      electionTimeoutTicks: t.electionTimeoutTicks,
      finalizeWaitTicks: t.finalizeWaitTicks ?? 1,
      initLimitTicks: t.initLimitTicks,
      syncLimitTicks: t.syncLimitTicks,
      heartbeatTicks: t.heartbeatTicks,
      quorumLossTicks: t.quorumLossTicks ?? t.syncLimitTicks,
    };
    this.maxCommittedLogEntries = config.maxCommittedLogEntries ?? 500;
    this.maxZxidCounter = config.maxZxidCounter ?? ZXID_COUNTER_ROLLOVER_LIMIT;
    this.maxOutstandingProposals = config.maxOutstandingProposals ?? 10_000;
    this.faults = new Set(config.faults ?? []);

    const p = config.persisted;
    this.acceptedEpochV = p.acceptedEpoch;
    this.currentEpochV = p.currentEpoch;
    this.snapshotZxidV = p.snapshotZxid;
    this.log = new ZabHistory<E>(p.logBaseZxid ?? p.snapshotZxid, p.entries);
    this.durableZxid = this.log.lastZxid;
    // After a restart only the snapshot is known to be committed; the rest is learned from the leader.
    this.committedZxidV = p.snapshotZxid;
    this.appliedZxidV = p.appliedZxid ?? this.log.lastZxid;
    if (this.appliedZxidV < this.log.baseZxid) {
      throw new Error('invariant: the state machine is behind the oldest log entry handed to the node');
    }
    this.election = new FastLeaderElection({
      id: this.id,
      voters: this.voters,
      observers: this.observers,
      isObserver: this.isObserver,
      electionTimeoutTicks: this.timing.electionTimeoutTicks,
      finalizeWaitTicks: this.timing.finalizeWaitTicks,
      now: () => this.now,
      random: () => this.prng.nextUint32(),
      selfVote: () => this.selfVote(),
      notify: (to) => this.sendNotification(to),
      conclude: (vote) => (vote.leader === this.id ? this.becomeLeader() : this.becomeLearner(vote.leader)),
    });
    this.startLooking();
  }

  // ---------------------------------------------------------------------------------------------
  // Read-only views

  get role(): ZabRole {
    return this.roleV;
  }
  get leaderId(): NodeId | undefined {
    return this.leaderIdV;
  }
  get acceptedEpoch(): number {
    return this.acceptedEpochV;
  }
  get currentEpoch(): number {
    return this.currentEpochV;
  }
  get lastZxid(): Zxid {
    return this.log.lastZxid;
  }
  /** Highest zxid this member knows to be committed. Snapshots may be taken up to here. */
  get committedZxid(): Zxid {
    return this.committedZxidV;
  }
  /** Highest zxid handed to the shell to apply (or already reflected by the state machine). */
  get appliedZxid(): Zxid {
    return this.appliedZxidV;
  }
  /** True when this member may serve reads and writes: a synced learner or an established leader. */
  get serving(): boolean {
    if (this.roleV === 'leading') return this.leader?.established === true;
    if (this.roleV === 'following' || this.roleV === 'observing') return this.learner?.phase === 'broadcast';
    return false;
  }
  /**
   * Leader only: the zxid its leadership started from (its initial history). A shell that preps
   * txns against its state machine must wait until it has applied this far.
   */
  get establishedZxid(): Zxid | undefined {
    return this.roleV === 'leading' && this.leader?.established ? this.leader.establishedZxid : undefined;
  }

  /** The current logical time, in ticks since start. */
  get ticks(): number {
    return this.now;
  }

  // ---------------------------------------------------------------------------------------------
  // Inputs

  /** Advances logical time by one tick: timeouts, heartbeats, re-sent votes, session expiry. */
  tick(): void {
    this.now++;
    switch (this.roleV) {
      case 'looking':
        this.election.tick();
        break;
      case 'leading':
        this.tickLeading();
        break;
      default:
        this.tickLearning();
    }
  }

  /**
   * Feeds one message from another member. Epochs are checked once here, before any role's step
   * function (etcd-raft's shape): a leader→learner message from an epoch older than acceptedEpoch
   * is dropped unread, so a follower never ACKs an older leader's proposal. NEWEPOCH is the one
   * exception: the learner itself must see it to abandon a leader whose epoch is too old.
   */
  step(msg: ZabMessage<E>): void {
    if (msg.to !== this.id || msg.from === this.id) return;
    if (!this.voters.has(msg.from) && !this.observers.has(msg.from)) return;
    if ('seq' in msg && msg.type !== 'newEpoch' && msg.epoch < this.acceptedEpochV) return;
    switch (this.roleV) {
      case 'looking':
        this.stepLooking(msg);
        break;
      case 'following':
        this.stepFollowing(msg);
        break;
      case 'observing':
        this.stepObserving(msg);
        break;
      case 'leading':
        this.stepLeading(msg);
        break;
    }
  }

  /**
   * Proposes a txn (leader only). Assigns the next zxid; the entry is logged, sent to followers and
   * committed once a quorum (the leader's own durable append included) has it.
   */
  propose(body: Omit<E, 'zxid'>): ProposeResult {
    if (this.roleV !== 'leading' || this.leader === undefined) {
      return { ok: false, reason: 'notLeader', leaderId: this.leaderIdV };
    }
    if (!this.leader.established || this.leader.epoch === undefined) {
      return { ok: false, reason: 'notServing', leaderId: this.id };
    }
    const epoch = this.leader.epoch;
    const last = this.log.lastZxid;
    const counter = zxidEpoch(last) === epoch ? zxidCounter(last) + 1 : 1;
    // Within one epoch the counters are contiguous: the distance to the commit point is the backlog.
    const committedCounter = zxidEpoch(this.committedZxidV) === epoch ? zxidCounter(this.committedZxidV) : 0;
    if (counter - 1 - committedCounter >= this.maxOutstandingProposals) {
      return { ok: false, reason: 'throttled', leaderId: this.id };
    }
    if (counter > this.maxZxidCounter) {
      // ZOOKEEPER-1277: the counter would wrap into the epoch bits. Step down; the next election
      // starts a fresh epoch (counter 1).
      this.stepDown('zxid counter exhausted: forcing a new epoch');
      return { ok: false, reason: 'zxidExhausted', leaderId: undefined };
    }
    const entry = { ...body, zxid: makeZxid(epoch, counter) } as E;
    this.log.append(entry);
    this.outAppend.push(entry);
    for (const h of this.leader.handlers.values()) {
      if (h.forwarding && !h.observer) this.sendToLearner(h, { type: 'proposal', entry });
    }
    return { ok: true, zxid: entry.zxid };
  }

  /**
   * Starts a sync(path) (ZOOKEEPER-1675 done right): completes, in {@link Ready.syncsDone}, once
   * every txn the leader had committed when the sync reached it is applied here, and only after the
   * leader confirmed with a quorum that it still leads (so a deposed leader cannot answer).
   */
  sync(reqId: number): SyncStartResult {
    if (!this.serving) {
      return {
        ok: false,
        reason: this.roleV === 'looking' ? 'notLeader' : 'notServing',
        leaderId: this.leaderIdV,
      };
    }
    if (this.roleV === 'leading') {
      this.leaderAcceptSync(this.id, reqId);
    } else {
      const l = this.learner!;
      l.pendingSyncs.add(reqId);
      this.sendToLeader({ type: 'sync', reqId });
    }
    return { ok: true };
  }

  /** Registers a session (the shell calls this when it applies a createSession txn, on every member). */
  trackSession(sessionId: bigint, timeoutTicks: number): void {
    this.sessions.track(sessionId, timeoutTicks, this.now);
  }

  /** Forgets a session (applied closeSession). */
  untrackSession(sessionId: bigint): void {
    this.sessions.untrack(sessionId);
  }

  /** The session showed life on this member (a request or ping). Learners forward it in pings. */
  touchSession(sessionId: bigint): void {
    if (this.roleV === 'leading') this.sessions.touchAsLeader(sessionId, this.now);
    else this.sessions.touchAsLearner(sessionId);
  }

  /**
   * The shell says its durable log holds every entry of the history from `firstZxid` (inclusive)
   * up to {@link lastZxid} and can stream them (undefined: it cannot). A learner whose shared point
   * with the leader is below the in-memory window but not below the entry just before `firstZxid`
   * then gets a DIFF or TRUNC with a {@link LogRange} (`fromLog`) instead of a SNAP — unless more
   * than `maxEntries` would come from the log (ZooKeeper's snapshotSizeFactor: past some size a
   * snapshot is cheaper). Update it before {@link ready} as the log is purged. Any zxid at or
   * after the truth is safe.
   */
  setLogStart(firstZxid: Zxid | undefined, maxEntries = Number.POSITIVE_INFINITY): void {
    this.logStart = firstZxid;
    this.logMaxEntries = maxEntries;
  }

  /** Session ids this member currently tracks. */
  trackedSessions(): bigint[] {
    return this.sessions.ids();
  }

  // ---------------------------------------------------------------------------------------------
  // Ready / advance

  /** True when {@link ready} has something for the shell to do. */
  hasReady(): boolean {
    if (this.readyInFlight !== undefined) return false;
    return (
      this.outMessages.length > 0 ||
      this.outAppend.length > 0 ||
      this.outSnapshot !== undefined ||
      this.outTruncate !== undefined ||
      this.outEpochs !== undefined ||
      this.outEvents.length > 0 ||
      this.outSyncsDone.length > 0 ||
      this.pendingAckZxid !== undefined ||
      this.appliedZxidV < this.applyLimit() ||
      this.roleV !== this.lastReportedRole ||
      this.serving !== this.lastReportedServing ||
      (this.leader?.roundRequested ?? false) ||
      (this.leader !== undefined && [...this.leader.handlers.values()].some((h) => h.needsSync)) ||
      this.syncWaits.some((w) => w.zxid <= this.applyLimit())
    );
  }

  /**
   * Everything the shell must do now, in order (README.md, "The shell's duties"). Call
   * {@link advance} once all of it is done, before the next ready().
   */
  ready(): Ready<E> {
    if (this.readyInFlight !== undefined) throw new Error('invariant: ready() called again before advance()');
    if (this.leader !== undefined && this.roleV === 'leading') {
      if (this.leader.roundRequested) this.startPingRound();
      this.leaderConfirmSyncs();
    }
    if (this.pendingAckZxid !== undefined) {
      if (this.learner !== undefined) this.sendToLeader({ type: 'ack', zxid: this.pendingAckZxid });
      this.pendingAckZxid = undefined;
    }
    const limit = this.applyLimit();
    const toApply = limit > this.appliedZxidV ? this.log.range(this.appliedZxidV, limit) : [];
    if (toApply.length > 0) this.appliedZxidV = toApply[toApply.length - 1]!.zxid;
    if (this.appliedZxidV < limit) {
      throw new Error(`invariant: committed txns up to ${limit.toString(16)} are missing from the log`);
    }
    // Sync streams are cut here, after toApply: a SNAP carries exactly the state the shell will
    // have once it applied this Ready (duty 2 before duty 4).
    if (this.leader !== undefined && this.roleV === 'leading') {
      for (const h of this.leader.handlers.values()) if (h.needsSync) this.generateSyncStream(h);
    }
    const stillWaiting: Array<{ reqId: number; zxid: Zxid }> = [];
    for (const w of this.syncWaits) {
      if (w.zxid <= this.appliedZxidV) this.outSyncsDone.push({ reqId: w.reqId, ok: true, zxid: w.zxid });
      else stillWaiting.push(w);
    }
    this.syncWaits = stillWaiting;
    const trimTo = this.committedZxidV < this.appliedZxidV ? this.committedZxidV : this.appliedZxidV;
    this.log.trim(trimTo, this.maxCommittedLogEntries);

    const rd: Ready<E> = {
      toAppend: this.outAppend,
      toApply,
      syncsDone: this.outSyncsDone,
      messages: this.outMessages,
      events: this.outEvents,
      role: this.roleV,
      leaderId: this.leaderIdV,
      serving: this.serving,
    };
    if (this.outSnapshot !== undefined) rd.snapshotToInstall = this.outSnapshot;
    if (this.outTruncate !== undefined) rd.toTruncate = this.outTruncate;
    if (this.outEpochs !== undefined) rd.epochUpdates = this.outEpochs;
    this.outAppend = [];
    this.outSyncsDone = [];
    this.outMessages = [];
    this.outEvents = [];
    this.outSnapshot = undefined;
    this.outTruncate = undefined;
    this.outEpochs = undefined;
    this.lastReportedRole = this.roleV;
    this.lastReportedServing = rd.serving;
    this.readyInFlight = { lastZxid: this.log.lastZxid };
    return rd;
  }

  /** The shell did everything the last {@link ready} asked. The leader counts its own ACK here. */
  advance(): void {
    const inFlight = this.readyInFlight;
    if (inFlight === undefined) throw new Error('invariant: advance() without a ready()');
    this.readyInFlight = undefined;
    // Everything in the log when ready() was cut is durable now (a TRUNC may have shortened it since).
    this.durableZxid = inFlight.lastZxid < this.log.lastZxid ? inFlight.lastZxid : this.log.lastZxid;
    if (this.roleV === 'leading') {
      this.leaderProgress();
      this.leaderMaybeCommit();
    }
  }

  private applyLimit(): Zxid {
    const c = this.committedZxidV;
    const l = this.log.lastZxid;
    return c < l ? c : l;
  }

  // ---------------------------------------------------------------------------------------------
  // Election (LOOKING)

  private selfVote(): Vote {
    return { leader: this.id, zxid: this.log.lastZxid, peerEpoch: this.currentEpochV };
  }

  private startLooking(): void {
    this.setRole('looking', undefined);
    this.leader = undefined;
    this.learner = undefined;
    this.pendingAckZxid = undefined;
    this.election.start();
  }

  private sendNotification(to: NodeId): void {
    this.outMessages.push({
      from: this.id,
      to,
      type: 'notification',
      state: this.roleV,
      electionEpoch: this.election.logicalClock,
      vote: this.roleV === 'looking' ? { ...this.election.vote } : this.reignVote(),
    });
  }

  /**
   * Outside an election we advertise the vote we were elected with (ZooKeeper's currentVote), not
   * just who leads: a voter still finalizing the same round then counts us as agreeing with its own
   * vote and joins at once. Advertising anything else (the new epoch, or -1 before it is known)
   * left a survivor of a two-voter quorum unable to ever match the leader that concluded one tick
   * earlier, until that leader gave up at initLimit. Once the leadership is established (leader) or
   * we are synced (learner, UPTODATE), the peerEpoch becomes the new epoch, so every member of the
   * ensemble reports the same (leader, epoch) to joiners whichever path they joined through
   * (ZooKeeper's updateElectionVote, ZOOKEEPER-1732: joiners compare leader and epoch only).
   */
  private reignVote(): Vote {
    const v = this.election.vote;
    const epoch = this.leader?.established
      ? this.leader.epoch
      : this.learner?.phase === 'broadcast'
        ? this.learner.epoch
        : undefined;
    return { leader: v.leader, zxid: v.zxid, peerEpoch: epoch ?? v.peerEpoch };
  }

  /** Outside an election, tell a looking member who leads, so it can join without an election of its own. */
  private answerNotification(n: Msg<E, 'notification'>): void {
    if (n.state === 'looking') this.sendNotification(n.from);
  }

  /** LOOKING members only talk election (FastLeaderElection's lookForLeader, in election.ts). */
  private stepLooking(msg: ZabMessage<E>): void {
    if (msg.type === 'notification') this.election.step(msg);
  }

  // ---------------------------------------------------------------------------------------------
  // Leader: discovery, sync, broadcast

  private becomeLeader(): void {
    this.setRole('leading', this.id);
    this.learner = undefined;
    this.leader = {
      startedTick: this.now,
      epoch: undefined,
      epochQuorum: false,
      established: false,
      establishedZxid: 0n,
      handlers: new Map(),
      lastHeartbeatTick: this.now,
      pingRound: 0,
      roundRequested: false,
      pendingSyncs: [],
    };
    // Tell everyone (looking members join faster).
    for (const peer of this.allPeers()) this.sendNotification(peer);
    this.leaderProgress();
  }

  private stepDown(reason: string): void {
    this.outEvents.push({ type: 'steppedDown', reason });
    this.failLocalSyncs();
    this.startLooking();
  }

  private stepLeading(msg: ZabMessage<E>): void {
    const L = this.leader!;
    if (msg.type === 'notification') {
      this.answerNotification(msg);
      return;
    }
    if (msg.type === 'followerInfo') {
      const existing = L.handlers.get(msg.from);
      if (existing !== undefined && existing.conn === msg.conn) return; // duplicate
      const h: LearnerHandler = {
        id: msg.from,
        conn: msg.conn,
        observer: this.observers.has(msg.from),
        acceptedEpoch: msg.acceptedEpoch,
        nextSeq: 0,
        lastHeardTick: this.now,
        connectedTick: this.now,
        newEpochSent: false,
        needsSync: false,
        forwarding: false,
        streamedZxid: 0n,
        newLeaderAcked: false,
        ackedZxid: 0n,
        ackedRound: 0,
      };
      if (L.epoch !== undefined && msg.acceptedEpoch > L.epoch) {
        // It promised a newer (failed) leader never to follow an older epoch, so it can never join
        // us. Step down: the next election picks an epoch it can accept.
        this.stepDown(`learner ${msg.from} accepted epoch ${msg.acceptedEpoch}, newer than ours`);
        return;
      }
      L.handlers.set(msg.from, h);
      if (L.epoch !== undefined) this.sendNewEpoch(h);
      else this.leaderProgress();
      return;
    }
    if (!('conn' in msg) || 'seq' in msg) return;
    const h = L.handlers.get(msg.from);
    if (h === undefined || h.conn !== msg.conn || msg.epoch !== L.epoch) return;
    h.lastHeardTick = this.now;
    switch (msg.type) {
      case 'ackEpoch': {
        if (h.ackEpoch !== undefined) return;
        // Zab 1.0: a learner whose history is more recent than ours must not be synced to ours.
        if (
          msg.currentEpoch > this.currentEpochV ||
          (msg.currentEpoch === this.currentEpochV && msg.lastZxid > this.log.lastZxid)
        ) {
          L.handlers.delete(h.id);
          this.outEvents.push({
            type: 'learnerDropped',
            learner: h.id,
            reason: 'learner is ahead of the leader',
          });
          return;
        }
        h.ackEpoch = msg as unknown as Msg<ZabEntry, 'ackEpoch'>;
        if (L.epochQuorum) h.needsSync = true;
        else this.leaderProgress();
        return;
      }
      case 'ackNewLeader': {
        // A repeated ACK must not trigger a second UPTODATE: the learner, already broadcasting,
        // would take it for a protocol error and drop us.
        if (!h.forwarding || h.newLeaderAcked) return;
        h.newLeaderAcked = true;
        if (msg.zxid > h.ackedZxid) h.ackedZxid = msg.zxid;
        if (L.established) this.sendToLearner(h, { type: 'upToDate', zxid: this.committedZxidV });
        else this.leaderProgress();
        this.leaderMaybeCommit();
        return;
      }
      case 'ack': {
        if (!h.newLeaderAcked || h.observer) return;
        if (msg.zxid > h.ackedZxid) h.ackedZxid = msg.zxid;
        this.leaderMaybeCommit();
        return;
      }
      case 'pingReply': {
        if (msg.round > h.ackedRound) h.ackedRound = msg.round;
        for (const s of msg.touches) this.touchSession(s);
        this.leaderConfirmSyncs();
        return;
      }
      case 'sync': {
        if (!L.established || !h.newLeaderAcked) return;
        this.leaderAcceptSync(h.id, msg.reqId);
        return;
      }
      default:
    }
  }

  /** Drives discovery → sync → established as quorums form. Idempotent. */
  private leaderProgress(): void {
    const L = this.leader;
    if (L === undefined || this.roleV !== 'leading') return;
    if (L.epoch === undefined) {
      const connected = [this.id, ...L.handlers.keys()];
      if (!hasQuorum(this.voters, connected)) return;
      let max = Math.max(this.acceptedEpochV, this.currentEpochV, zxidEpoch(this.log.lastZxid));
      for (const h of L.handlers.values()) max = Math.max(max, h.acceptedEpoch);
      L.epoch = max + 1;
      this.acceptedEpochV = L.epoch;
      this.outEpochs = { ...this.outEpochs, acceptedEpoch: L.epoch };
      for (const h of L.handlers.values()) this.sendNewEpoch(h);
    }
    if (!L.epochQuorum) {
      const acked = [this.id];
      for (const h of L.handlers.values())
        if (h.ackEpoch !== undefined && !h.ackEpoch.repeated) acked.push(h.id);
      if (!hasQuorum(this.voters, acked)) return;
      L.epochQuorum = true;
      this.currentEpochV = L.epoch;
      this.outEpochs = { ...this.outEpochs, currentEpoch: L.epoch };
      for (const h of L.handlers.values()) if (h.ackEpoch !== undefined) h.needsSync = true;
    }
    if (!L.established) {
      const synced: NodeId[] = [];
      if (this.durableZxid >= this.log.lastZxid && this.readyInFlight === undefined) synced.push(this.id);
      for (const h of L.handlers.values()) if (h.newLeaderAcked) synced.push(h.id);
      if (!hasQuorum(this.voters, synced)) return;
      this.establish();
    }
  }

  private establish(): void {
    const L = this.leader!;
    L.established = true;
    // The new leader's whole history is committed now: a quorum holds it durably under this epoch.
    this.committedZxidV = this.log.lastZxid;
    L.establishedZxid = this.log.lastZxid;
    this.sessions.restartClocks(this.now);
    for (const h of L.handlers.values()) {
      if (h.newLeaderAcked) this.sendToLearner(h, { type: 'upToDate', zxid: this.committedZxidV });
    }
    this.outEvents.push({ type: 'leaderEstablished', epoch: L.epoch!, committedZxid: this.committedZxidV });
  }

  private sendNewEpoch(h: LearnerHandler): void {
    if (h.newEpochSent) return;
    h.newEpochSent = true;
    this.sendToLearner(h, { type: 'newEpoch' });
  }

  /** DIFF, TRUNC or SNAP from the learner's position, then the rest of our history and NEWLEADER. */
  private generateSyncStream(h: LearnerHandler): void {
    const f = h.ackEpoch!;
    h.needsSync = false;
    h.forwarding = true;
    const last = this.log.lastZxid;
    // The log floor never lies below where the epoch records start (after a restart: the
    // recovered snapshot): below it they cannot count the log's entries nor see its older epochs,
    // and a DIFF planned there would be short by whole epochs the learner then silently lacks.
    let floor = this.logStart === undefined ? undefined : this.log.predecessorOf(this.logStart);
    if (floor !== undefined && floor < this.log.recordsFromZxid) floor = this.log.recordsFromZxid;
    // A SNAP carries exactly what the shell will have applied once it has applied this Ready.
    let { how, fromZxid: from } = planSync(this.log, this.appliedZxidV, f, floor);
    const base = this.log.baseZxid;
    const count = how !== 'snap' && from < base ? this.log.countBetween(from, base) : 0;
    if (count > this.logMaxEntries) {
      how = 'snap';
      from = this.appliedZxidV;
    }
    if (how !== 'snap' && from < base) {
      // The older part comes from the shell's durable log, on sequence numbers reserved here.
      this.sendToLearner(h, { type: how, zxid: from, fromLog: { to: base, count } });
      h.nextSeq += count;
      for (const entry of this.log.range(base, last)) this.sendToLearner(h, { type: 'proposal', entry });
      this.outEvents.push({
        type: 'learnerSynced',
        learner: h.id,
        how,
        fromZxid: from,
        fromLog: { to: base, count },
      });
    } else {
      this.sendToLearner(h, { type: how, zxid: from });
      for (const entry of this.log.range(from, last)) this.sendToLearner(h, { type: 'proposal', entry });
      this.outEvents.push({ type: 'learnerSynced', learner: h.id, how, fromZxid: from });
    }
    if (this.committedZxidV > from) this.sendToLearner(h, { type: 'commit', zxid: this.committedZxidV });
    this.sendToLearner(h, { type: 'newLeader', zxid: last });
    h.streamedZxid = last;
  }

  private leaderMaybeCommit(): void {
    const L = this.leader;
    if (L === undefined || !L.established || this.roleV !== 'leading') return;
    let candidate: Zxid | undefined;
    if (this.faults.has('commitWithoutQuorum')) {
      candidate = this.log.lastZxid;
    } else {
      const acks: Zxid[] = [this.durableZxid];
      for (const h of L.handlers.values()) if (h.newLeaderAcked && !h.observer) acks.push(h.ackedZxid);
      candidate = quorumValue(acks, this.voters.size);
    }
    if (candidate === undefined || candidate <= this.committedZxidV) return;
    if (candidate > this.log.lastZxid) throw new Error('invariant: quorum acked beyond the leader log');
    const old = this.committedZxidV;
    this.committedZxidV = candidate;
    for (const h of L.handlers.values()) {
      if (!h.forwarding) continue;
      if (!h.observer) {
        this.sendToLearner(h, { type: 'commit', zxid: candidate });
        continue;
      }
      // Observers saw proposals only inside their sync stream; everything later arrives as INFORM.
      if (old < h.streamedZxid) {
        this.sendToLearner(h, {
          type: 'commit',
          zxid: candidate < h.streamedZxid ? candidate : h.streamedZxid,
        });
      }
      const informFrom = old > h.streamedZxid ? old : h.streamedZxid;
      if (candidate > informFrom) {
        for (const entry of this.log.range(informFrom, candidate))
          this.sendToLearner(h, { type: 'inform', entry });
      }
    }
  }

  private leaderAcceptSync(origin: NodeId, reqId: number): void {
    const L = this.leader!;
    if (this.faults.has('syncWithoutQuorumCheck')) {
      this.answerSync(origin, reqId, this.committedZxidV);
      return;
    }
    // Needs a ping round that starts after the sync arrived: answered once a quorum replies to it.
    L.pendingSyncs.push({ origin, reqId, target: this.committedZxidV, round: L.pingRound + 1 });
    L.roundRequested = true;
  }

  private startPingRound(): void {
    const L = this.leader!;
    L.roundRequested = false;
    L.pingRound++;
    L.lastHeartbeatTick = this.now;
    for (const h of L.handlers.values()) {
      if (h.forwarding)
        this.sendToLearner(h, { type: 'ping', round: L.pingRound, zxid: this.committedZxidV });
    }
  }

  private leaderConfirmSyncs(): void {
    const L = this.leader!;
    if (L.pendingSyncs.length === 0) return;
    const rounds: Zxid[] = [BigInt(L.pingRound)];
    for (const h of L.handlers.values())
      if (h.newLeaderAcked && !h.observer) rounds.push(BigInt(h.ackedRound));
    const confirmed = Number(quorumValue(rounds, this.voters.size) ?? 0n);
    const rest: LeaderState['pendingSyncs'] = [];
    for (const s of L.pendingSyncs) {
      if (s.round <= confirmed && s.round <= L.pingRound) this.answerSync(s.origin, s.reqId, s.target);
      else rest.push(s);
    }
    L.pendingSyncs = rest;
  }

  private answerSync(origin: NodeId, reqId: number, zxid: Zxid): void {
    if (origin === this.id) {
      this.syncWaits.push({ reqId, zxid });
      return;
    }
    const h = this.leader!.handlers.get(origin);
    // The reply travels behind every COMMIT up to `zxid` on the same FIFO connection.
    if (h?.forwarding) this.sendToLearner(h, { type: 'syncReply', reqId, zxid });
  }

  private tickLeading(): void {
    const L = this.leader!;
    if (!L.established) {
      if (this.now - L.startedTick > this.timing.initLimitTicks) {
        this.stepDown('no quorum synced within initLimit');
      }
      return;
    }
    for (const h of [...L.handlers.values()]) {
      // ZooKeeper's LearnerHandler reads with an initLimit timeout until the NEWLEADER ACK, then
      // syncLimit: a learner receiving a large SNAP has nothing to say until it has it all.
      const silentLimit = h.newLeaderAcked
        ? Math.max(this.timing.syncLimitTicks, this.timing.quorumLossTicks)
        : this.timing.initLimitTicks;
      const silent = this.now - h.lastHeardTick > silentLimit;
      const stuck = !h.newLeaderAcked && this.now - h.connectedTick > this.timing.initLimitTicks;
      if (silent || stuck) {
        L.handlers.delete(h.id);
        this.outEvents.push({
          type: 'learnerDropped',
          learner: h.id,
          reason: silent
            ? `silent for ${h.newLeaderAcked ? 'syncLimit' : 'initLimit'}`
            : 'not synced within initLimit',
        });
      }
    }
    // ZooKeeper's leader checks that a quorum is still synced; ours: heard from within quorumLossTicks.
    const live = [this.id];
    for (const h of L.handlers.values()) {
      if (h.newLeaderAcked && this.now - h.lastHeardTick <= this.timing.quorumLossTicks) live.push(h.id);
    }
    if (!hasQuorum(this.voters, live)) {
      this.stepDown('lost the quorum of followers');
      return;
    }
    if (this.now - L.lastHeartbeatTick >= this.timing.heartbeatTicks) L.roundRequested = true;
    for (const sessionId of this.sessions.expired(this.now)) {
      this.outEvents.push({ type: 'sessionExpired', sessionId });
    }
  }

  private sendToLearner(
    h: LearnerHandler,
    body: DistributiveOmit<LeaderBody<E>, 'conn' | 'seq' | 'epoch'>,
  ): void {
    const epoch = this.leader?.epoch;
    if (epoch === undefined) throw new Error('invariant: leader message before the epoch is decided');
    // Completes the caller's fresh literal in place: cheaper than a spread on the hot path.
    const msg = body as unknown as Record<string, unknown>;
    msg.from = this.id;
    msg.to = h.id;
    msg.conn = h.conn;
    msg.seq = h.nextSeq++;
    msg.epoch = epoch;
    this.outMessages.push(msg as unknown as ZabMessage<E>);
  }

  // ---------------------------------------------------------------------------------------------
  // Learner (follower or observer): discovery, sync, broadcast

  private becomeLearner(leaderId: NodeId): void {
    this.setRole(this.isObserver ? 'observing' : 'following', leaderId);
    this.leader = undefined;
    this.learner = {
      leaderId,
      conn: this.prng.nextUint32(),
      phase: 'discovery',
      epoch: undefined,
      expectSeq: 0,
      lastHeardTick: this.now,
      startedTick: this.now,
      how: 'diff',
      pendingSyncs: new Set(),
    };
    this.outMessages.push({
      from: this.id,
      to: leaderId,
      type: 'followerInfo',
      conn: this.learner.conn,
      acceptedEpoch: this.acceptedEpochV,
      observer: this.isObserver,
    });
  }

  private abandonLeader(reason: string): void {
    const l = this.learner;
    if (l !== undefined) this.outEvents.push({ type: 'abandonedLeader', leaderId: l.leaderId, reason });
    this.failLocalSyncs();
    this.startLooking();
  }

  private failLocalSyncs(): void {
    for (const reqId of this.learner?.pendingSyncs ?? [])
      this.outSyncsDone.push({ reqId, ok: false, zxid: 0n });
    for (const s of this.leader?.pendingSyncs ?? []) {
      if (s.origin === this.id) this.outSyncsDone.push({ reqId: s.reqId, ok: false, zxid: 0n });
    }
    for (const w of this.syncWaits) this.outSyncsDone.push({ reqId: w.reqId, ok: false, zxid: 0n });
    this.syncWaits = [];
  }

  private sendToLeader(
    body: DistributiveOmit<Extract<ZabMessageBody<E>, { conn: number; epoch: number }>, 'conn' | 'epoch'>,
  ): void {
    const l = this.learner!;
    const msg = body as unknown as Record<string, unknown>;
    msg.from = this.id;
    msg.to = l.leaderId;
    msg.conn = l.conn;
    msg.epoch = l.epoch ?? 0;
    this.outMessages.push(msg as unknown as ZabMessage<E>);
  }

  private stepFollowing(msg: ZabMessage<E>): void {
    if (msg.type === 'notification') {
      this.learnerNotification(msg);
      return;
    }
    const l = this.acceptFromLeader(msg);
    if (l === undefined) return;
    if (msg.type === 'proposal') this.learnerProposal(l, msg.entry, true);
    else this.stepLearner(l, msg);
  }

  /** An observer follows like a follower but never votes: no ACKs, and INFORM instead of PROPOSAL+COMMIT. */
  private stepObserving(msg: ZabMessage<E>): void {
    if (msg.type === 'notification') {
      this.learnerNotification(msg);
      return;
    }
    const l = this.acceptFromLeader(msg);
    if (l === undefined) return;
    switch (msg.type) {
      case 'proposal':
        // Only inside the sync stream; acknowledged by the NEWLEADER ACK, never counted.
        this.learnerProposal(l, msg.entry, false);
        return;
      case 'inform':
        this.log.append(msg.entry);
        this.outAppend.push(msg.entry);
        this.learnerCommit(msg.entry.zxid);
        return;
      default:
        this.stepLearner(l, msg);
    }
  }

  /**
   * A notification while following or observing. Besides answering looking members: when our
   * leader announces that it now leads and we have heard nothing from it yet, our FOLLOWERINFO
   * may have reached it while it was still looking (we concluded first) and been dropped; send it
   * again on the same connection, as ZooKeeper's learner retries its connect. The leader ignores a
   * duplicate of a connection it knows, and a new handler starts at sequence 0, which is still
   * what we expect.
   */
  private learnerNotification(n: Msg<E, 'notification'>): void {
    this.answerNotification(n);
    const l = this.learner!;
    if (n.from !== l.leaderId || l.phase !== 'discovery' || l.expectSeq !== 0) return;
    const notAboutToLead =
      n.state === 'following' ||
      n.state === 'observing' ||
      (n.state === 'looking' && n.vote.leader !== n.from);
    // A notification of an older round is stale (reordered) and says nothing about this one.
    if (notAboutToLead && n.electionEpoch >= this.election.logicalClock) {
      // The member we concluded leads has not answered and now says it will not: it follows
      // someone, or still looks but votes for a better candidate (a vote only improves within a
      // round). Waiting for it would cost initLimit; start over instead (always safe).
      this.abandonLeader(`leader-elect ${n.from} is ${n.state}, voting for ${n.vote.leader}`);
      return;
    }
    if (n.state !== 'leading') return;
    this.outMessages.push({
      from: this.id,
      to: l.leaderId,
      type: 'followerInfo',
      conn: l.conn,
      acceptedEpoch: this.acceptedEpochV,
      observer: this.isObserver,
    });
  }

  /**
   * The leader connection's checks, as TCP would give them: only our leader, only this
   * connection, in sequence. Returns the learner state when the message should be processed.
   */
  private acceptFromLeader(msg: ZabMessage<E>): LearnerState | undefined {
    const l = this.learner!;
    if (msg.from !== l.leaderId || !('seq' in msg) || msg.conn !== l.conn) return undefined;
    if (msg.seq < l.expectSeq) return undefined; // duplicate
    if (msg.seq > l.expectSeq) {
      // A message of this connection was lost: as with a broken TCP connection, start over.
      this.abandonLeader('gap in the leader connection');
      return undefined;
    }
    l.expectSeq++;
    l.lastHeardTick = this.now;
    return l;
  }

  /** A PROPOSAL (broadcast, or inside the sync stream): log it; followers ACK it once synced. */
  private learnerProposal(l: LearnerState, entry: E, ack: boolean): void {
    if (l.phase === 'discovery') {
      this.abandonLeader('proposal before NEWEPOCH');
      return;
    }
    if (this.faults.has('skipTrunc') && entry.zxid <= this.log.lastZxid) return;
    this.log.append(entry);
    this.outAppend.push(entry);
    if (this.faults.has('applyOnProposal') && entry.zxid > this.committedZxidV) {
      this.committedZxidV = entry.zxid;
    }
    // ACK only after NEWLEADER: sync-stream proposals are acknowledged by the NEWLEADER ACK.
    if (ack && (l.phase === 'synced' || l.phase === 'broadcast')) this.pendingAckZxid = this.log.lastZxid;
  }

  /** What followers and observers handle alike: discovery, sync, commits, pings, sync replies. */
  private stepLearner(l: LearnerState, msg: ZabMessage<E>): void {
    switch (msg.type) {
      case 'newEpoch':
        this.onNewEpoch(l, msg.epoch);
        return;
      case 'snap': {
        if (!this.expectPhase(l, 'sync', msg.type)) return;
        l.how = 'snap';
        this.outSnapshot = { zxid: msg.zxid, snapshot: msg.snapshot };
        this.outAppend = [];
        this.outTruncate = undefined;
        this.log.resetTo(msg.zxid);
        this.snapshotZxidV = msg.zxid;
        this.committedZxidV = msg.zxid;
        this.appliedZxidV = msg.zxid;
        return;
      }
      case 'trunc': {
        if (!this.expectPhase(l, 'sync', msg.type)) return;
        l.how = 'trunc';
        if (this.faults.has('skipTrunc')) return;
        this.truncateTo(msg.zxid);
        return;
      }
      case 'diff':
        if (!this.expectPhase(l, 'sync', msg.type)) return;
        if (msg.zxid !== this.log.lastZxid)
          throw new Error('invariant: DIFF from a zxid that is not our last');
        l.how = 'diff';
        return;
      case 'commit':
        this.learnerCommit(msg.zxid);
        return;
      case 'newLeader': {
        if (!this.expectPhase(l, 'sync', msg.type)) return;
        if (msg.zxid !== this.log.lastZxid && !this.faults.has('skipTrunc')) {
          throw new Error('invariant: NEWLEADER does not match the synced history');
        }
        // The synced txns are in this Ready's toAppend; the shell persists them before the epoch
        // (ZOOKEEPER-4643) and both before sending the ACK (ZOOKEEPER-3911).
        this.currentEpochV = l.epoch!;
        this.outEpochs = { ...this.outEpochs, currentEpoch: l.epoch! };
        l.phase = 'synced';
        this.pendingAckZxid = undefined;
        this.sendToLeader({ type: 'ackNewLeader', zxid: this.log.lastZxid });
        return;
      }
      case 'upToDate': {
        if (!this.expectPhase(l, 'synced', msg.type)) return;
        this.learnerCommit(msg.zxid);
        l.phase = 'broadcast';
        this.outEvents.push({ type: 'synced', leaderId: l.leaderId, epoch: l.epoch!, how: l.how });
        return;
      }
      case 'ping': {
        this.sendToLeader({ type: 'pingReply', round: msg.round, touches: this.sessions.takeTouches() });
        return;
      }
      case 'syncReply': {
        if (!l.pendingSyncs.delete(msg.reqId)) return;
        this.syncWaits.push({ reqId: msg.reqId, zxid: msg.zxid });
        return;
      }
      default:
    }
  }

  private onNewEpoch(l: LearnerState, epoch: number): void {
    if (l.phase !== 'discovery') {
      this.abandonLeader('unexpected NEWEPOCH');
      return;
    }
    if (epoch < this.acceptedEpochV) {
      this.abandonLeader('leader epoch is older than our acceptedEpoch');
      return;
    }
    const repeated = epoch === this.acceptedEpochV;
    if (!repeated) {
      this.acceptedEpochV = epoch;
      // Persisted (duty 1d) before the ACKEPOCH below is sent (duty 4).
      this.outEpochs = { ...this.outEpochs, acceptedEpoch: epoch };
    }
    l.epoch = epoch;
    l.phase = 'sync';
    this.sendToLeader({
      type: 'ackEpoch',
      repeated,
      currentEpoch: this.currentEpochV,
      lastZxid: this.log.lastZxid,
      snapshotZxid: this.snapshotZxidV,
      epochs: this.log.epochs(),
    });
  }

  private expectPhase(l: LearnerState, phase: LearnerState['phase'], type: string): boolean {
    if (l.phase === phase) return true;
    this.abandonLeader(`${type} in phase ${l.phase}`);
    return false;
  }

  private truncateTo(zxid: Zxid): void {
    if (zxid < this.committedZxidV) {
      // With a deliberate fault injected, let the lie through: the simulator's end-to-end checks
      // (digests, history) must be what catches the bug, not this guard.
      if (this.faults.size === 0) {
        throw new Error(
          `invariant: TRUNC to ${zxid.toString(16)} below committed ${this.committedZxidV.toString(16)}`,
        );
      }
      this.committedZxidV = zxid;
    }
    const rebuild = this.appliedZxidV > zxid;
    this.log.truncate(zxid);
    this.outAppend = this.outAppend.filter((e) => e.zxid <= zxid);
    const prev = this.outTruncate;
    this.outTruncate = {
      zxid: prev !== undefined && prev.zxid < zxid ? prev.zxid : zxid,
      rebuild: rebuild || (prev?.rebuild ?? false),
    };
    if (this.appliedZxidV > zxid) this.appliedZxidV = zxid;
    if (this.durableZxid > zxid) this.durableZxid = zxid;
  }

  /** COMMIT is cumulative: everything up to `zxid` is committed. */
  private learnerCommit(zxid: Zxid): void {
    if (zxid > this.log.lastZxid) throw new Error('invariant: COMMIT of a txn we have not logged');
    if (zxid > this.committedZxidV) this.committedZxidV = zxid;
  }

  private tickLearning(): void {
    const l = this.learner!;
    // As ZooKeeper's Learner, initLimit of silence while the leader streams the sync (a SNAP may
    // take that long to arrive: nothing else comes meanwhile), syncLimit otherwise.
    const silentLimit = l.phase === 'sync' ? this.timing.initLimitTicks : this.timing.syncLimitTicks;
    if (this.now - l.lastHeardTick > silentLimit) this.abandonLeader('leader silent');
    else if (l.phase !== 'broadcast' && this.now - l.startedTick > this.timing.initLimitTicks) {
      // Discovery and sync must finish within initLimit (a lost ACKEPOCH or NEWLEADER ACK ends here).
      this.abandonLeader('not synced within initLimit');
    }
  }

  // ---------------------------------------------------------------------------------------------

  private setRole(role: ZabRole, leaderId: NodeId | undefined): void {
    const changed = role !== this.roleV || leaderId !== this.leaderIdV;
    this.roleV = role;
    this.leaderIdV = leaderId;
    if (changed) this.outEvents.push({ type: 'roleChanged', role, leaderId });
  }

  private *allPeers(): Iterable<NodeId> {
    for (const v of this.voters) if (v !== this.id) yield v;
    for (const o of this.observers) if (o !== this.id) yield o;
  }

  /** A summary for admin output and debugging. */
  status(): {
    id: NodeId;
    role: ZabRole;
    leaderId: NodeId | undefined;
    serving: boolean;
    acceptedEpoch: number;
    currentEpoch: number;
    lastZxid: Zxid;
    committedZxid: Zxid;
    appliedZxid: Zxid;
    learners: number;
  } {
    return {
      id: this.id,
      role: this.roleV,
      leaderId: this.leaderIdV,
      serving: this.serving,
      acceptedEpoch: this.acceptedEpochV,
      currentEpoch: this.currentEpochV,
      lastZxid: this.log.lastZxid,
      committedZxid: this.committedZxidV,
      appliedZxid: this.appliedZxidV,
      learners: this.leader?.handlers.size ?? 0,
    };
  }
}

/** Exposed for tests: the quorum size of an ensemble. */
export const zabQuorumSize = quorumSize;
