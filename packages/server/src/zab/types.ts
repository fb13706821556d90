import type { TxnEntry, Zxid } from '@conclave/core';
import type { Prng } from './prng.js';

/** A member's server id (ZooKeeper's `myid`). */
export type NodeId = number;

/** What the ZAB node replicates: anything with a zxid. The server uses core's {@link TxnEntry}. */
export interface ZabEntry {
  zxid: Zxid;
}

/** A member's role, as ZooKeeper's ServerState. */
export type ZabRole = 'looking' | 'following' | 'leading' | 'observing';

/** A fast-leader-election vote: the larger `(peerEpoch, zxid, leader)` wins. */
export interface Vote {
  leader: NodeId;
  zxid: Zxid;
  /** The candidate's currentEpoch. */
  peerEpoch: number;
}

/**
 * Deliberate protocol bugs, for tests that prove the simulator's checks bite. Never set in
 * production; the server shell refuses a config that carries any.
 */
export type ZabFault =
  /** The leader commits as soon as its own log has a proposal, without a quorum of ACKs. */
  | 'commitWithoutQuorum'
  /** A follower ignores TRUNC and keeps the uncommitted tail of an old epoch. */
  | 'skipTrunc'
  /** A follower applies a proposal when it logs it, not when it is committed. */
  | 'applyOnProposal'
  /** The leader answers sync without first confirming it still leads a quorum (ZOOKEEPER-1675-like). */
  | 'syncWithoutQuorumCheck';

/** Timing, in ticks. ZooKeeper's initLimit/syncLimit are multiples of tickTime; ours are ticks. */
export interface ZabTimingConfig {
  /** Base interval between re-sent election notifications while LOOKING (jittered up to 2×). */
  electionTimeoutTicks: number;
  /** Ticks to wait for a better vote once a quorum agrees (ZooKeeper's finalizeWait). Default 1. */
  finalizeWaitTicks?: number;
  /** Ticks a leader/learner may spend in discovery + sync before giving up (initLimit). */
  initLimitTicks: number;
  /** Ticks without hearing the peer before a learner drops its leader or a leader a learner (syncLimit). */
  syncLimitTicks: number;
  /** Leader's ping interval. */
  heartbeatTicks: number;
  /**
   * An established leader steps down as soon as fewer than a quorum of voters (itself included)
   * were heard from within this many ticks. Default: syncLimitTicks.
   */
  quorumLossTicks?: number;
}

/** The state a member recovered from its durable storage. */
export interface ZabPersistedState<E extends ZabEntry> {
  acceptedEpoch: number;
  currentEpoch: number;
  /**
   * The zxid of the snapshot the state machine can always be rebuilt from (0n when none). A TRUNC
   * below it is impossible, so the leader sends SNAP instead. The shell must only take snapshots at
   * zxids ≤ {@link ZabNode.committedZxid}.
   */
  snapshotZxid: Zxid;
  /** The durable log after `logBaseZxid`, in zxid order (contiguous). */
  entries: readonly E[];
  /** The zxid just before `entries[0]`. Default `snapshotZxid`. */
  logBaseZxid?: Zxid;
  /**
   * What the state machine reflects. Default: the last entry — ZooKeeper replays the whole log on
   * start, uncommitted tail included; a later TRUNC then asks the shell to rebuild.
   */
  appliedZxid?: Zxid;
}

export interface ZabConfig<E extends ZabEntry> {
  id: NodeId;
  /** Voting members, this one included unless it is an observer. */
  voters: readonly NodeId[];
  /** Non-voting members (receive INFORM, never count in a quorum). */
  observers?: readonly NodeId[];
  prng: Prng;
  timing: ZabTimingConfig;
  persisted: ZabPersistedState<E>;
  /** Committed entries kept in memory for DIFF syncs (ZooKeeper's committedLog). Default 500. */
  maxCommittedLogEntries?: number;
  /**
   * Proposals the leader may have in flight (proposed, not yet committed) before propose() refuses
   * with 'throttled' — a bound on the leader's memory and on the queue each follower must absorb.
   * Default 10 000.
   */
  maxOutstandingProposals?: number;
  /** Highest zxid counter before the leader forces a new epoch (ZOOKEEPER-1277). Default 0xfffffffe. */
  maxZxidCounter?: number;
  /** Deliberate bugs, tests only. */
  faults?: readonly ZabFault[];
}

/**
 * On a DIFF or TRUNC whose start lies below the leader's in-memory window: the shell sends, right
 * after this message and before anything else to that learner, the `count` logged entries with
 * `msg.zxid < zxid <= to` read from its durable log, each as a PROPOSAL on the same connection
 * with sequence numbers `msg.seq + 1` … `msg.seq + count` (the node reserved them). If its log
 * cannot produce exactly those, it must break the connection (the learner starts over) and lower
 * its {@link ZabNode.setLogStart}.
 */
export interface LogRange {
  to: Zxid;
  count: number;
}

/** Leader → learner messages travel on one FIFO connection: `conn` names it, `seq` orders it. */
interface FromLeader {
  conn: number;
  seq: number;
  /** The leader's (new) epoch. */
  epoch: number;
}
/** Learner → leader messages name their connection and the epoch they follow. */
interface FromLearner {
  conn: number;
  epoch: number;
}

export type ZabMessageBody<E extends ZabEntry> =
  | { type: 'notification'; state: ZabRole; electionEpoch: number; vote: Vote }
  | { type: 'followerInfo'; conn: number; acceptedEpoch: number; observer: boolean }
  | ({
      type: 'ackEpoch';
      /**
       * The learner had already accepted this epoch (from another would-be leader): Zab 1.0 lets it
       * sync, but its ACK must not count toward the epoch quorum (ZooKeeper sends currentEpoch -1).
       */
      repeated: boolean;
      currentEpoch: number;
      lastZxid: Zxid;
      snapshotZxid: Zxid;
      /** `[epoch, last counter]` for every epoch in the learner's history, ascending. */
      epochs: Array<[number, number]>;
    } & FromLearner)
  | ({ type: 'ackNewLeader'; zxid: Zxid } & FromLearner)
  | ({ type: 'ack'; zxid: Zxid } & FromLearner)
  | ({ type: 'pingReply'; round: number; touches: bigint[] } & FromLearner)
  | ({ type: 'sync'; reqId: number } & FromLearner)
  | ({ type: 'newEpoch' } & FromLeader)
  | ({ type: 'snap'; zxid: Zxid; snapshot?: unknown } & FromLeader)
  | ({ type: 'trunc'; zxid: Zxid; fromLog?: LogRange } & FromLeader)
  | ({ type: 'diff'; zxid: Zxid; fromLog?: LogRange } & FromLeader)
  | ({ type: 'proposal'; entry: E } & FromLeader)
  | ({ type: 'commit'; zxid: Zxid } & FromLeader)
  | ({ type: 'inform'; entry: E } & FromLeader)
  | ({ type: 'newLeader'; zxid: Zxid } & FromLeader)
  | ({ type: 'upToDate'; zxid: Zxid } & FromLeader)
  | ({ type: 'ping'; round: number; zxid: Zxid } & FromLeader)
  | ({ type: 'syncReply'; reqId: number; zxid: Zxid } & FromLeader);

/** A message between members. The shell delivers it to `to`'s {@link ZabNode.step}. */
export type ZabMessage<E extends ZabEntry = TxnEntry> = { from: NodeId; to: NodeId } & ZabMessageBody<E>;

export type LeaderToLearnerType =
  | 'newEpoch'
  | 'snap'
  | 'trunc'
  | 'diff'
  | 'proposal'
  | 'commit'
  | 'inform'
  | 'newLeader'
  | 'upToDate'
  | 'ping'
  | 'syncReply';

export type ZabEvent =
  | { type: 'roleChanged'; role: ZabRole; leaderId: NodeId | undefined }
  | { type: 'leaderEstablished'; epoch: number; committedZxid: Zxid }
  | { type: 'synced'; leaderId: NodeId; epoch: number; how: 'diff' | 'trunc' | 'snap' }
  | {
      type: 'learnerSynced';
      learner: NodeId;
      how: 'diff' | 'trunc' | 'snap';
      fromZxid: Zxid;
      /** Set when the older part of the DIFF/TRUNC comes from the shell's durable log. */
      fromLog?: LogRange;
    }
  | { type: 'steppedDown'; reason: string }
  | { type: 'learnerDropped'; learner: NodeId; reason: string }
  | { type: 'abandonedLeader'; leaderId: NodeId; reason: string }
  | { type: 'sessionExpired'; sessionId: bigint };

/** Why a propose or sync was refused. */
export type ZabRefusal = 'notLeader' | 'notServing' | 'zxidExhausted' | 'throttled';

export type ProposeResult =
  | { ok: true; zxid: Zxid }
  | { ok: false; reason: ZabRefusal; leaderId: NodeId | undefined };
export type SyncStartResult = { ok: true } | { ok: false; reason: ZabRefusal; leaderId: NodeId | undefined };

/** A sync(path) answered: reads after it are linearizable. `ok: false` = it failed (leader lost). */
export interface SyncDone {
  reqId: number;
  ok: boolean;
  /** Everything committed before the sync arrived at the leader is applied up to here. */
  zxid: Zxid;
}

/**
 * What the shell must do, in the order of {@link ZabNode.ready}'s contract (see README.md).
 */
export interface Ready<E extends ZabEntry> {
  /** Step 1a: replace the state machine and the log with this snapshot (SNAP sync). */
  snapshotToInstall?: { zxid: Zxid; snapshot: unknown };
  /** Step 1b: drop log entries after `zxid`; when `rebuild`, reload the state machine up to `zxid`. */
  toTruncate?: { zxid: Zxid; rebuild: boolean };
  /** Step 1c: append durably (fsync) in order. */
  toAppend: E[];
  /** Step 1d: persist, after the appends are durable: acceptedEpoch first, then currentEpoch. */
  epochUpdates?: { acceptedEpoch?: number; currentEpoch?: number };
  /** Step 2: apply in order (all committed). */
  toApply: E[];
  /** Step 3: answer these syncs (the reads after them may now run). */
  syncsDone: SyncDone[];
  /** Step 4: send, preserving order per destination; attach a snapshot to each `snap`. */
  messages: ZabMessage<E>[];
  /** Things that happened, for logs and the shell's bookkeeping. */
  events: ZabEvent[];
  role: ZabRole;
  leaderId: NodeId | undefined;
  /** True when this member may serve reads and accept writes (synced follower, established leader). */
  serving: boolean;
}
