import type { Txn } from '@conclave/core';
import type { ZnodeOp, ZnodeResult } from '../linearizability/index.js';

/**
 * What the simulated ensemble replicates. Client ops carry (clientId, reqId) so the member that
 * holds the request can answer when it applies the txn, as ZooKeeper's CommitProcessor does.
 * Outcomes are decided at apply time (deterministically), which keeps the leader free of a prep step.
 */
export type SimEntry =
  | { zxid: bigint; kind: 'op'; clientId: number; reqId: number; op: ZnodeOp }
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
