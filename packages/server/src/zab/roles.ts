import type { Zxid } from '@conclave/core';
import type { NodeId, Vote, ZabEntry, ZabMessage, ZabRole } from './types.js';

/** The state a ZabNode keeps per role, one interface each (etcd-raft keeps them in one struct). */

type Msg<E extends ZabEntry, T extends ZabMessage<E>['type']> = Extract<ZabMessage<E>, { type: T }>;

export interface TalliedVote {
  vote: Vote;
  electionEpoch: number;
  state: ZabRole;
}

/** The leader's view of one learner connection (ZooKeeper's LearnerHandler). */
export interface LearnerHandler {
  id: NodeId;
  conn: number;
  observer: boolean;
  acceptedEpoch: number;
  nextSeq: number;
  lastHeardTick: number;
  connectedTick: number;
  newEpochSent: boolean;
  ackEpoch?: Msg<ZabEntry, 'ackEpoch'>;
  /** ACKEPOCH received and the epoch has a quorum: generate the sync stream at the next ready(). */
  needsSync: boolean;
  /** The sync stream was generated: new proposals/commits are forwarded from now on. */
  forwarding: boolean;
  /** The leader's lastZxid when the stream was generated (observers get COMMIT up to here, INFORM after). */
  streamedZxid: Zxid;
  newLeaderAcked: boolean;
  ackedZxid: Zxid;
  ackedRound: number;
}

export interface LeaderState {
  startedTick: number;
  /** The new epoch, once a quorum of FOLLOWERINFO arrived. */
  epoch: number | undefined;
  epochQuorum: boolean;
  established: boolean;
  /** The leader's lastZxid when it was established: its whole initial history. */
  establishedZxid: Zxid;
  handlers: Map<NodeId, LearnerHandler>;
  lastHeartbeatTick: number;
  pingRound: number;
  roundRequested: boolean;
  pendingSyncs: Array<{ origin: NodeId; reqId: number; target: Zxid; round: number }>;
}

export interface LearnerState {
  leaderId: NodeId;
  conn: number;
  phase: 'discovery' | 'sync' | 'synced' | 'broadcast';
  epoch: number | undefined;
  expectSeq: number;
  lastHeardTick: number;
  startedTick: number;
  how: 'diff' | 'trunc' | 'snap';
  /** Syncs sent to the leader, waiting for their reply. */
  pendingSyncs: Set<number>;
}
