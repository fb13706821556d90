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

  get lastZxid(): bigint {
    return this.log.length > 0 ? this.log[this.log.length - 1]!.zxid : (this.snapshot?.zxid ?? 0n);
  }

  write(ops: DiskOp[]): void {
    for (const o of ops) {
      switch (o.op) {
        case 'snapshot':
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
}
