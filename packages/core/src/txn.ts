import type { ACL } from './acl.js';
import type { Zxid } from './zxid.js';

/**
 * A txn is the deterministic result of prepping a write request on the leader: everything a member
 * needs to apply it identically (the sequential name already chosen, the new version already
 * computed). Apply never fails half-way; a request that fails validation becomes an `error` txn
 * (or is answered without a txn at all when nothing needs ordering).
 */
export type Txn =
  | CreateTxn
  | DeleteTxn
  | SetDataTxn
  | SetACLTxn
  | CheckTxn
  | MultiTxn
  | CreateSessionTxn
  | CloseSessionTxn
  | ErrorTxn;

export interface CreateTxn {
  type: 'create';
  /** The final path, sequential suffix included. */
  path: string;
  data: Uint8Array;
  acl: ACL[];
  /**
   * 0 for persistent, the session id for an ephemeral, CONTAINER_EPHEMERAL_OWNER for a container,
   * ttlEphemeralOwner(ttlMs) for a TTL node: ZooKeeper's encoding, so Stat reads the same.
   */
  ephemeralOwner: bigint;
  /** The parent's cversion after this create. */
  parentCVersion: number;
}

export interface DeleteTxn {
  type: 'delete';
  path: string;
}

export interface SetDataTxn {
  type: 'setData';
  path: string;
  data: Uint8Array;
  /** The node's data version after this txn. */
  version: number;
}

export interface SetACLTxn {
  type: 'setACL';
  path: string;
  acl: ACL[];
  /** The node's aversion after this txn. */
  version: number;
}

/** A version check inside a multi: changes nothing, fails the multi when it does not hold. */
export interface CheckTxn {
  type: 'check';
  path: string;
  version: number;
}

/** All-or-nothing: either every sub-txn applies, or `txns` holds only `error` txns. */
export interface MultiTxn {
  type: 'multi';
  txns: Txn[];
}

export interface CreateSessionTxn {
  type: 'createSession';
  /** The negotiated timeout. */
  timeoutMs: number;
  /** The session's password, chosen by the leader when prepping (so apply is deterministic). */
  password: Uint8Array;
}

export interface CloseSessionTxn {
  type: 'closeSession';
  /** The session's ephemerals at prep time, in the order they are deleted. */
  ephemerals: string[];
}

/** A request that failed validation; ordered like any txn so the client sees errors in order. */
export interface ErrorTxn {
  type: 'error';
  /** A ZooKeeper error number. */
  err: number;
}

/** A txn with its header, as proposed, logged and applied. */
export interface TxnEntry {
  zxid: Zxid;
  /** The session that issued the request (0n for the server's own txns, e.g. container cleanup). */
  sessionId: bigint;
  /** The client's request id within its session (0 for the server's own txns). */
  cxid: number;
  /** Leader's wall clock at prep, ms since the epoch; becomes ctime/mtime. */
  time: number;
  txn: Txn;
}

/** Txn types that change the tree (as opposed to session bookkeeping and errors). */
export function isTreeTxn(txn: Txn): boolean {
  return txn.type !== 'createSession' && txn.type !== 'closeSession' && txn.type !== 'error';
}
