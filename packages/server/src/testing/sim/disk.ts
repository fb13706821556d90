import type { SimEntry } from './entry.js';

/** One durable operation, in the order a Ready requires them. */
export type DiskOp =
  | { op: 'snapshot'; zxid: bigint; data: unknown }
  | { op: 'truncate'; zxid: bigint }
  | { op: 'append'; entry: SimEntry }
  | { op: 'acceptedEpoch'; epoch: number }
  | { op: 'currentEpoch'; epoch: number };

/**
 * A member's simulated disk. Writes are staged and become durable only when their fsync completes;
 * a crash keeps a prefix of the staged writes (storage persists in order), losing the rest.
 */
export class SimDisk {
  snapshot: { zxid: bigint; data: unknown } | undefined;
  log: SimEntry[] = [];
  acceptedEpoch = 0;
  currentEpoch = 0;
  /** Multiplies the fsync latency (slow disk). */
  slowFactor = 1;

  /** The oldest entry the log still holds (undefined: empty), for setLogStart. */
  get firstLogZxid(): bigint | undefined {
    return this.log[0]?.zxid;
  }

  get lastZxid(): bigint {
    return this.log.length > 0 ? this.log[this.log.length - 1]!.zxid : (this.snapshot?.zxid ?? 0n);
  }

  write(ops: DiskOp[]): void {
    for (const o of ops) {
      switch (o.op) {
        case 'snapshot':
          // A SNAP from the leader: the history jumps to it, so no older entry may be read across.
          this.snapshot = { zxid: o.zxid, data: o.data };
          this.log = [];
          break;
        case 'truncate':
          if (this.snapshot !== undefined && o.zxid < this.snapshot.zxid) {
            throw new Error('invariant: TRUNC below the snapshot the member rebuilds from');
          }
          this.log = this.log.filter((e) => e.zxid <= o.zxid);
          break;
        case 'append':
          if (o.entry.zxid <= this.lastZxid) throw new Error('invariant: log append out of order on disk');
          this.log.push(o.entry);
          break;
        case 'acceptedEpoch':
          this.acceptedEpoch = o.epoch;
          break;
        case 'currentEpoch':
          this.currentEpoch = o.epoch;
          break;
      }
    }
  }

  /**
   * The member's own periodic snapshot at `zxid` (durable at once: written aside and renamed into
   * place, as ZooKeeper's snapshot files are). The log keeps its entries: purge drops them later.
   * The state must be of a committed zxid this log holds, so the log stays contiguous across it.
   */
  takeSnapshot(zxid: bigint, data: unknown): void {
    if (this.snapshot !== undefined && zxid <= this.snapshot.zxid) {
      throw new Error('invariant: a local snapshot must be newer than the last one');
    }
    if (!this.log.some((e) => e.zxid === zxid)) {
      throw new Error('invariant: a local snapshot at a zxid the durable log does not hold');
    }
    this.snapshot = { zxid, data };
  }

  /**
   * Drops the log's entries at or below the snapshot except the newest `keepBelow` of them
   * (ZooKeeper's PurgeTxnLog keeps the logs newer snapshots still need).
   */
  purge(keepBelow: number): void {
    const snap = this.snapshot?.zxid;
    if (snap === undefined) return;
    let covered = 0;
    while (covered < this.log.length && this.log[covered]!.zxid <= snap) covered++;
    const drop = Math.max(0, covered - keepBelow);
    if (drop > 0) this.log = this.log.slice(drop);
  }
}
