import {
  type ACL,
  type CreateResult,
  Limits,
  type MultiResponseResult,
  type MultiResult,
  type SetACLResult,
  type SetDataResult,
  type Txn,
  type TxnEntry,
} from '@conclave/core';
import { DataTree } from './data-tree.js';
import { Hasher, SEED_SESSION, TreeDigest } from './digest.js';
import { restoreDatabase, serializeDatabase } from './snapshot-format.js';
import { checkTxn, parentOf } from './txn-check.js';

/** A change watches must see; WatchManager.trigger turns these into per-session WatchedEvents. */
export interface TreeEvent {
  type: 'NodeCreated' | 'NodeDeleted' | 'NodeDataChanged' | 'NodeChildrenChanged';
  path: string;
  /**
   * The ACL of the node at `path` when the event happened (a deleted node's last ACL): only
   * sessions allowed to READ it may be told (ZooKeeper CVE-2024-23944).
   */
  acl: readonly ACL[];
}

/** The outcome of applying one txn. */
export interface ApplyResult {
  /** 0, or a ZooKeeper errno: an error txn's, or the first failing op's for a failed multi. */
  err: number;
  /** Per txn type: create → CreateResult, setData/setACL → { stat }, multi → { results }, others → {}. */
  result?: CreateResult | SetDataResult | SetACLResult | MultiResponseResult | Record<string, never>;
  /** What watches must see, in order. */
  events: TreeEvent[];
}

/** A row of the session table. */
export interface SessionInfo {
  timeoutMs: number;
  password: Uint8Array;
}

export interface DatabaseOptions {
  /**
   * Largest znode data the Preparer accepts by default (Limits.maxDataBytes). Apply itself does
   * not enforce it: it applies whatever the leader accepted, so members configured differently
   * can never diverge.
   */
  maxDataBytes?: number;
}

const EMPTY_RESULT: Record<string, never> = Object.freeze({}) as Record<string, never>;

/**
 * The replicated state: the {@link DataTree} plus the session table, changed only by
 * {@link apply} in zxid order. Apply is deterministic, checks every invariant of a txn before it
 * changes anything (so it never fails half-way), and returns the result for the client and the
 * events for the watches.
 */
export class Database {
  readonly tree: DataTree;
  readonly maxDataBytes: number;
  private _lastZxid = 0n;
  private readonly _sessions = new Map<bigint, SessionInfo>();
  private readonly sessionSum = new TreeDigest();
  private readonly hasher = new Hasher();

  constructor(opts: DatabaseOptions = {}) {
    this.tree = new DataTree();
    this.maxDataBytes = opts.maxDataBytes ?? Limits.maxDataBytes;
  }

  /** zxid of the last applied txn (0n for an empty database). */
  get lastZxid(): bigint {
    return this._lastZxid;
  }

  /** Live sessions: id → timeout and password. */
  get sessions(): ReadonlyMap<bigint, SessionInfo> {
    return this._sessions;
  }

  /**
   * Applies one committed txn. Throws Error('invariant: ...') — and changes nothing — when the
   * txn does not fit the state (zxid not above lastZxid, node missing, version not the next one,
   * ...): that is a bug in whoever produced the txn, never a client error.
   */
  apply(entry: TxnEntry): ApplyResult {
    const { zxid, sessionId, time, txn } = entry;
    if (typeof zxid !== 'bigint' || zxid <= this._lastZxid) {
      throw new Error(
        `invariant: txn zxid 0x${String(zxid)} is not above lastZxid 0x${this._lastZxid.toString(16)}`,
      );
    }
    checkTxn(this.tree, sessionId, txn, this._sessions.has(sessionId));
    const events: TreeEvent[] = [];
    let result: ApplyResult;
    switch (txn.type) {
      case 'error':
        result = { err: txn.err, events };
        break;
      case 'createSession':
        this.addSession(sessionId, { timeoutMs: txn.timeoutMs, password: new Uint8Array(txn.password) });
        result = { err: 0, result: EMPTY_RESULT, events };
        break;
      case 'closeSession':
        this.closeSession(sessionId, txn.ephemerals, zxid, events);
        result = { err: 0, result: EMPTY_RESULT, events };
        break;
      case 'multi': {
        const results: MultiResult[] = [];
        let err = 0;
        for (const sub of txn.txns) {
          if (sub.type === 'error') {
            if (err === 0 && sub.err !== 0) err = sub.err;
            results.push({ op: 'error', err: sub.err });
          } else {
            results.push(this.applyTreeTxn(sub, zxid, time, events) as MultiResult);
          }
        }
        result = { err, result: { results }, events };
        break;
      }
      default: {
        const r = this.applyTreeTxn(txn, zxid, time, events);
        result = { err: 0, result: stripOp(r), events };
      }
    }
    this._lastZxid = zxid;
    return result;
  }

  /** The incremental digest of the tree and the session table, as 16 hex digits; O(1). */
  digest(): string {
    return this.tree.digestSum.hexPlus(this.sessionSum);
  }

  /** Paths of a session's ephemerals, sorted. */
  ephemeralsOf(sessionId: bigint): string[] {
    return this.tree.ephemeralsOf(sessionId);
  }

  /** Empty containers that once had a child: the leader deletes them (as delete txns). */
  containerCandidates(): string[] {
    return this.tree.containerCandidates();
  }

  /** Childless TTL nodes unmodified for longer than their TTL at `nowMs`. */
  ttlExpired(nowMs: number): string[] {
    return this.tree.ttlExpired(nowMs);
  }

  /**
   * The snapshot at lastZxid as CBOR chunks (header, batches of nodes, trailer with the digest).
   *
   * Consistency: the image is captured synchronously when serialize() is called — one small
   * tuple per node holding references to its (never mutated in place) data and interned ACL — and
   * encoded lazily as the iterator is consumed. apply() may run between chunks without changing
   * the image. Memory cost: about 12 references per node (≈ 100 B/node, ~100 MB for 1M nodes)
   * until the iterator is finished or dropped, plus one encoded chunk at a time; data bytes are
   * shared, not copied, so data replaced by later setData stays alive until then.
   */
  serialize(): Iterable<Uint8Array> {
    return serializeDatabase(this);
  }

  /** Rebuilds a Database from serialize()'s chunks; verifies node count and digest. */
  static restore(
    chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
    opts: DatabaseOptions = {},
  ): Promise<Database> {
    return restoreDatabase(chunks, new Database(opts));
  }

  // ---- internals ------------------------------------------------------------------------------

  /** @internal Adds a session (apply and snapshot restore). */
  addSession(sessionId: bigint, info: SessionInfo): void {
    this._sessions.set(sessionId, info);
    const [a, b] = this.sessionTerm(sessionId, info);
    this.sessionSum.add(a, b);
  }

  /** @internal Sets lastZxid when restoring a snapshot. */
  setLastZxid(zxid: bigint): void {
    this._lastZxid = zxid;
  }

  private sessionTerm(sessionId: bigint, info: SessionInfo): [number, number] {
    const h = this.hasher.begin(SEED_SESSION).big(sessionId).num(info.timeoutMs).bytes(info.password);
    return [h.endA(), h.endB()];
  }

  private closeSession(sessionId: bigint, listed: string[], zxid: bigint, events: TreeEvent[]): void {
    for (const path of listed) this.deleteWithEvents(path, zxid, events);
    // As ZooKeeper's killSession: whatever the session still owns goes too (deterministically, sorted).
    for (const path of this.tree.ephemeralsOf(sessionId)) this.deleteWithEvents(path, zxid, events);
    const info = this._sessions.get(sessionId);
    if (info !== undefined) {
      const [a, b] = this.sessionTerm(sessionId, info);
      this.sessionSum.sub(a, b);
      this._sessions.delete(sessionId);
    }
  }

  private deleteWithEvents(path: string, zxid: bigint, events: TreeEvent[]): void {
    const parentPath = parentOf(path);
    // Taken before the delete: the node's ACL is gone afterwards.
    const acl = this.tree.aclOf(path)!;
    this.tree.deleteNode(path, parentPath, zxid);
    events.push(
      { type: 'NodeDeleted', path, acl },
      { type: 'NodeChildrenChanged', path: parentPath, acl: this.tree.aclOf(parentPath)! },
    );
  }

  /** Applies a checked create/delete/setData/setACL/check; returns its multi-shaped result. */
  private applyTreeTxn(txn: Txn, zxid: bigint, time: number, events: TreeEvent[]): MultiResult {
    switch (txn.type) {
      case 'create': {
        const parentPath = parentOf(txn.path);
        const node = this.tree.createNode(
          txn.path,
          parentPath,
          txn.data,
          txn.acl,
          txn.ephemeralOwner,
          txn.parentCVersion,
          zxid,
          time,
        );
        events.push(
          { type: 'NodeCreated', path: txn.path, acl: node.acl.acl },
          { type: 'NodeChildrenChanged', path: parentPath, acl: this.tree.aclOf(parentPath)! },
        );
        return { op: 'create', path: txn.path, stat: node.stat() };
      }
      case 'delete':
        this.deleteWithEvents(txn.path, zxid, events);
        return { op: 'delete' };
      case 'setData': {
        const node = this.tree.getNode(txn.path)!;
        this.tree.setNodeData(txn.path, node, txn.data, txn.version, zxid, time);
        events.push({ type: 'NodeDataChanged', path: txn.path, acl: node.acl.acl });
        return { op: 'setData', stat: node.stat() };
      }
      case 'setACL': {
        const node = this.tree.getNode(txn.path)!;
        this.tree.setNodeAcl(txn.path, node, txn.acl, txn.version);
        // ZooKeeper fires no watch on an ACL change.
        return { op: 'setData', stat: node.stat() };
      }
      case 'check':
        return { op: 'check' };
      default:
        throw new Error(`invariant: ${txn.type} is not a tree txn`);
    }
  }
}

function stripOp(r: MultiResult): CreateResult | SetDataResult | Record<string, never> {
  switch (r.op) {
    case 'create':
      return { path: r.path, stat: r.stat };
    case 'setData':
      return { stat: r.stat };
    default:
      return EMPTY_RESULT;
  }
}
