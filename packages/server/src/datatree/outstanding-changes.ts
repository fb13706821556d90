import type { ACL } from '@conclave/core';
import type { Database } from './database.js';

/**
 * What the preparer believes a node looks like once every prepped-but-unapplied txn has applied
 * (ZooKeeper's ChangeRecord). `exists: false` records a pending delete.
 */
export interface ChangeRecord {
  exists: boolean;
  version: number;
  cversion: number;
  aversion: number;
  numChildren: number;
  ephemeralOwner: bigint;
  acl: readonly ACL[];
  /** Last data change (ms): what the TTL rule looks at. */
  mtime: number;
  /** The token of the prep that produced this record (0 while staged). */
  token: number;
}

/**
 * The outstanding changes: records of txns prepped but not yet applied, newest per path, layered
 * over the database. Each prep works in a staging area first, so a failed op (or a failed multi)
 * leaves no trace; `commit` publishes the staged records under the prep's token. When a txn is
 * applied the caller settles its token and the records it alone produced are dropped: the
 * database now says the same.
 */
export class OutstandingChanges {
  private readonly pending = new Map<string, ChangeRecord>();
  private readonly staged = new Map<string, ChangeRecord>();
  // FIFO of (token, path) in prep order, so settle() is O(records dropped).
  private queueTokens: number[] = [];
  private queuePaths: string[] = [];
  private head = 0;

  constructor(private readonly db: Database) {}

  /** The node as the preparer sees it, or undefined when it does not (or will not) exist. */
  get(path: string): ChangeRecord | undefined {
    const rec = this.staged.get(path) ?? this.pending.get(path);
    if (rec !== undefined) return rec.exists ? rec : undefined;
    const node = this.db.tree.getNode(path);
    if (node === undefined) return undefined;
    return {
      exists: true,
      version: node.version,
      cversion: node.cversion,
      aversion: node.aversion,
      numChildren: node.numChildren,
      ephemeralOwner: node.ephemeralOwner,
      acl: node.acl.acl,
      mtime: node.mtime,
      token: 0,
    };
  }

  /** Stages a new view of `path` (a copy: records already published are never mutated). */
  put(path: string, rec: ChangeRecord): void {
    this.staged.set(path, rec);
  }

  /** Stages the deletion of `path`. */
  putDeleted(path: string, like: ChangeRecord): void {
    this.staged.set(path, { ...like, exists: false });
  }

  /** Publishes the staged records under `token`. */
  commit(token: number): void {
    for (const [path, rec] of this.staged) {
      rec.token = token;
      this.pending.set(path, rec);
      this.queueTokens.push(token);
      this.queuePaths.push(path);
    }
    this.staged.clear();
  }

  /** Forgets the staged records (the prep failed). */
  discard(): void {
    this.staged.clear();
  }

  /** Every txn prepped with a token ≤ `token` has been applied (or abandoned). */
  settle(token: number): void {
    while (this.head < this.queueTokens.length && this.queueTokens[this.head]! <= token) {
      const t = this.queueTokens[this.head]!;
      const path = this.queuePaths[this.head]!;
      if (this.pending.get(path)?.token === t) this.pending.delete(path);
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.queueTokens.length) {
      this.queueTokens = this.queueTokens.slice(this.head);
      this.queuePaths = this.queuePaths.slice(this.head);
      this.head = 0;
    }
  }

  /** Drops everything (leadership change). */
  reset(): void {
    this.pending.clear();
    this.staged.clear();
    this.queueTokens = [];
    this.queuePaths = [];
    this.head = 0;
  }

  /** Number of paths with an outstanding record. */
  get size(): number {
    return this.pending.size;
  }

  /** A session's ephemerals once everything outstanding (and staged) has applied, sorted. */
  ephemeralsOf(sessionId: bigint): string[] {
    const out = new Set(this.db.tree.ephemeralsOf(sessionId));
    for (const layer of [this.pending, this.staged]) {
      for (const [path, rec] of layer) {
        if (rec.exists && rec.ephemeralOwner === sessionId) out.add(path);
        else out.delete(path);
      }
    }
    return [...out].sort();
  }
}
