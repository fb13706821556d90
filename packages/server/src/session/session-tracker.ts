import { ExpiryQueue } from './expiry-queue.js';

/** What the tracker knows about a live session (the durable part lives in the Database). */
export interface TrackedSession {
  readonly sessionId: bigint;
  timeoutMs: number;
  /** Set once a closeSession txn has been proposed: no more requests are accepted for it. */
  closing: boolean;
}

/**
 * Leader-side session liveness: every request or ping touches its session, and sessions not
 * touched within their timeout are reported by {@link expire} so the shell can propose their
 * closeSession txn. The tracker owns no timer; the shell calls {@link expire} at {@link waitMs}.
 */
export class SessionTracker {
  private readonly sessions = new Map<bigint, TrackedSession>();
  private readonly queue: ExpiryQueue<bigint>;

  constructor(tickMs: number, nowMs: number) {
    this.queue = new ExpiryQueue<bigint>(tickMs, nowMs);
  }

  /** Starts tracking a session (new, or recovered after a restart: it gets a full timeout). */
  add(sessionId: bigint, timeoutMs: number, nowMs: number): TrackedSession {
    let s = this.sessions.get(sessionId);
    if (s === undefined) {
      s = { sessionId, timeoutMs, closing: false };
      this.sessions.set(sessionId, s);
    }
    s.timeoutMs = timeoutMs;
    this.queue.update(sessionId, timeoutMs, nowMs);
    return s;
  }

  get(sessionId: bigint): TrackedSession | undefined {
    return this.sessions.get(sessionId);
  }

  /** Extends a live session's lease; false when it is unknown or closing. */
  touch(sessionId: bigint, nowMs: number): boolean {
    const s = this.sessions.get(sessionId);
    if (s === undefined || s.closing) return false;
    this.queue.update(sessionId, s.timeoutMs, nowMs);
    return true;
  }

  /** Marks a session as closing (its closeSession txn is proposed); it no longer expires. */
  setClosing(sessionId: bigint): void {
    const s = this.sessions.get(sessionId);
    if (s === undefined) return;
    s.closing = true;
    this.queue.remove(sessionId);
  }

  /** Forgets a session (its closeSession txn was applied). */
  remove(sessionId: bigint): void {
    this.sessions.delete(sessionId);
    this.queue.remove(sessionId);
  }

  /** Sessions whose lease ran out by `nowMs`; they are marked closing. */
  expire(nowMs: number): bigint[] {
    const expired = this.queue.poll(nowMs);
    for (const id of expired) {
      const s = this.sessions.get(id);
      if (s !== undefined) s.closing = true;
    }
    return expired;
  }

  waitMs(nowMs: number): number {
    return this.queue.waitMs(nowMs);
  }

  get size(): number {
    return this.sessions.size;
  }

  values(): IterableIterator<TrackedSession> {
    return this.sessions.values();
  }
}
