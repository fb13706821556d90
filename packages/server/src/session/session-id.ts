/**
 * Session ids as ZooKeeper makes them: the member id in the high byte and, below it, the start
 * time in ms shifted left by 16 (so ids from a restarted member don't collide with the ones it
 * handed out before), then a counter.
 */
export class SessionIdGenerator {
  private next: bigint;

  constructor(memberId: number, nowMs: number) {
    if (!Number.isInteger(memberId) || memberId < 0 || memberId > 0xfe) {
      throw new Error(`invariant: member id must be in [0, 254], got ${memberId}`);
    }
    const timeBits = BigInt.asUintN(64, BigInt(Math.floor(nowMs)) << 24n) >> 8n;
    this.next = (BigInt(memberId) << 56n) | timeBits;
  }

  /** A fresh session id, never 0n. */
  nextId(): bigint {
    this.next += 1n;
    return this.next;
  }
}
