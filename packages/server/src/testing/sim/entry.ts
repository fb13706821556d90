import type { Txn } from '@conclave/core';
import type { ZnodeOp, ZnodeResult } from '../linearizability/index.js';

/**
 * What the simulated ensemble replicates. Client ops carry (clientId, reqId) so the member that
 * holds the request can answer when it applies the txn, as ZooKeeper's CommitProcessor does.
 * Outcomes are decided at apply time (deterministically), which keeps the leader free of a prep step.
 */
/** How a session-namespace create names and owns its node (ZooKeeper's CreateMode subset). */
export type SimCreateMode = 'ephemeral' | 'ephemeralSequential' | 'persistentSequential' | 'container';

/**
 * Ops on the session namespace (`/e`, `/q`): ephemeral and sequential creates, alone or in a multi.
 * Their outcome depends on session liveness and parent cversions, which the per-key linearizability
 * model does not track, so the simulator checks them with its own invariants instead (no ephemeral
 * outlives its session; sequential names unique and increasing per parent; digests agree).
 */
export type SessionOp =
  | { op: 'screate'; path: string; data: string; mode: SimCreateMode; session: bigint }
  | {
      op: 'smulti';
      ops: Array<{ op: 'screate'; path: string; data: string; mode: SimCreateMode; session: bigint }>;
    }
  /**
   * The leader's own delete of an empty container that once had a child (ZooKeeper's
   * ContainerManager); a no-op error when the container is gone, has children or never had one.
   */
  | { op: 'reap'; path: string };

/** Everything a simulated client may write. */
export type SimOp = ZnodeOp | SessionOp;

export function isSessionOp(op: SimOp): op is SessionOp {
  return op.op === 'screate' || op.op === 'smulti' || op.op === 'reap';
}

/** ZooKeeper's SESSIONEXPIRED: an ephemeral create for a session that is closed or unknown. */
export const SIM_SESSIONEXPIRED = -112;

export type SimEntry =
  | { zxid: bigint; kind: 'op'; clientId: number; reqId: number; op: SimOp }
  /** A client op (or session close) prepped by the leader into a Database txn. */
  | { zxid: bigint; kind: 'txn'; clientId: number; reqId: number; sessionId: bigint; time: number; txn: Txn }
  | { zxid: bigint; kind: 'createSession'; sessionId: bigint; timeoutTicks: number }
  | { zxid: bigint; kind: 'closeSession'; sessionId: bigint };

export type SimEntryBody = SimEntry extends infer T ? (T extends unknown ? Omit<T, 'zxid'> : never) : never;

/** Session timeout of every simulated session, in ticks. */
export const SIM_SESSION_TIMEOUT_TICKS = 40;

/** The replicated state machine the simulator drives; swappable (a KV store today, Database later). */
export interface SimStateMachine {
  readonly lastZxid: bigint;
  /** Applies one committed txn; zxids strictly increase (a txn is never applied twice). */
  apply(entry: SimEntry): ZnodeResult | undefined;
  read(path: string): ZnodeResult;
  /** Hash chain over every txn applied so far: equal digests at equal zxids ⇔ equal histories. */
  digest(): string;
  /** The chain digest recorded at each zxid applied (or inherited through a snapshot). */
  digestAt(zxid: bigint): string | undefined;
  sessions(): bigint[];
  /** Every ephemeral node as `[path, owner session]`. */
  ephemerals(): Array<[string, bigint]>;
  /** Containers that once had a child and have none now: the leader must delete them. */
  containerCandidates(): string[];
  /** True when `path` exists. */
  has(path: string): boolean;
  /** Every zxid in this state's history, ascending (inherited through snapshots too). */
  historyZxids(): bigint[];
  /** A deep, immutable copy for SNAP transfer and rebuilds. */
  snapshot(): unknown;
  /**
   * Leader-side prep (state machines whose txns are decided on the leader, like the Database):
   * turns a request into the body to propose; undefined = propose the request as is.
   */
  prep?(body: SimEntryBody, nowMs: number): { body: SimEntryBody; token: number } | undefined;
  /** The txn prepped with this token was applied. */
  settle?(token: number): void;
  /** Leadership changed: forget outstanding prepped changes. */
  resetPrep?(): void;
}

export interface SimStateMachineFactory {
  empty(): SimStateMachine;
  restore(snapshot: unknown): SimStateMachine;
}
