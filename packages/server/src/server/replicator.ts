import type { Txn, TxnEntry } from '@conclave/core';

/** A txn the leader wants ordered: everything of a TxnEntry but the zxid, which the replicator assigns. */
export interface Proposal {
  sessionId: bigint;
  cxid: number;
  time: number;
  txn: Txn;
}

/** What the server does with the replicator's output. */
export interface ReplicatorHandlers {
  /**
   * An entry is committed: apply it. Called once per entry, in zxid order, never re-entrantly.
   * Entries proposed by this member and by others (a ZAB follower's case) come through here alike.
   */
  commit(entry: TxnEntry): void;
  /** The replicator cannot continue (e.g. the log failed to fsync): stop serving. */
  fail(err: Error): void;
}

/**
 * The write path's ordering and durability step, between prep and apply (ARCHITECTURE.md "Write
 * path", steps 4–5). Standalone is {@link LocalReplicator}, a one-member quorum over the local
 * log; the ZAB integration implements this same interface with a ZabNode, so the request pipeline
 * has one code path for both.
 */
export interface Replicator {
  /** 'standalone' for a one-member quorum; 'leader' / 'follower' / 'observer' under ZAB. */
  readonly mode: string;
  /** Whether proposals may be made here (prep runs only on the leader). */
  readonly isLeader: boolean;
  /** Takes over the log after recovery and starts delivering commits. */
  start(handlers: ReplicatorHandlers): Promise<void>;
  /** Orders and persists a txn; its commit arrives later through `handlers.commit`. */
  propose(proposal: Proposal): void;
  /** Resolves once every write committed before the call has been applied on this member. */
  sync(): Promise<void>;
  /** Proposals made but not yet committed. */
  readonly pending: number;
  /** Stops; resolves once everything proposed so far is durable (or failed). */
  close(): Promise<void>;
}
