/**
 * ZooKeeper's ExpiryQueue: items expire in buckets rounded up to a multiple of `intervalMs`, so
 * touching an item is O(1) and the expiry timer wakes once per bucket instead of once per item.
 * An item may expire up to one interval late, never early.
 */
export class ExpiryQueue<T> {
  private readonly expiryOf = new Map<T, number>();
  private readonly buckets = new Map<number, Set<T>>();
  private nextExpirationMs: number;

  constructor(
    readonly intervalMs: number,
    nowMs: number,
  ) {
    if (!(intervalMs > 0)) throw new Error(`invariant: expiry interval must be positive, got ${intervalMs}`);
    this.nextExpirationMs = this.roundUp(nowMs);
  }

  private roundUp(timeMs: number): number {
    return (Math.floor(timeMs / this.intervalMs) + 1) * this.intervalMs;
  }

  /** (Re)schedules `item` to expire `timeoutMs` from `nowMs`; returns its bucket time. */
  update(item: T, timeoutMs: number, nowMs: number): number {
    const at = this.roundUp(nowMs + timeoutMs);
    const previous = this.expiryOf.get(item);
    if (previous === at) return at;
    if (previous !== undefined) this.removeFromBucket(item, previous);
    let bucket = this.buckets.get(at);
    if (bucket === undefined) this.buckets.set(at, (bucket = new Set()));
    bucket.add(item);
    this.expiryOf.set(item, at);
    return at;
  }

  remove(item: T): boolean {
    const at = this.expiryOf.get(item);
    if (at === undefined) return false;
    this.removeFromBucket(item, at);
    this.expiryOf.delete(item);
    return true;
  }

  has(item: T): boolean {
    return this.expiryOf.has(item);
  }

  private removeFromBucket(item: T, at: number): void {
    const bucket = this.buckets.get(at);
    if (bucket === undefined) return;
    bucket.delete(item);
    if (bucket.size === 0) this.buckets.delete(at);
  }

  /** Milliseconds until the next bucket is due (0 when one is already due). */
  waitMs(nowMs: number): number {
    return Math.max(0, this.nextExpirationMs - nowMs);
  }

  /** Removes and returns every item whose bucket is due at `nowMs`. */
  poll(nowMs: number): T[] {
    const expired: T[] = [];
    while (this.nextExpirationMs <= nowMs) {
      const at = this.nextExpirationMs;
      const bucket = this.buckets.get(at);
      if (bucket !== undefined) {
        this.buckets.delete(at);
        for (const item of bucket) {
          this.expiryOf.delete(item);
          expired.push(item);
        }
      }
      this.nextExpirationMs += this.intervalMs;
    }
    return expired;
  }

  get size(): number {
    return this.expiryOf.size;
  }
}
