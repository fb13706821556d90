/** What the leader knows of one session's liveness. */
interface SessionRecord {
  timeoutTicks: number;
  lastTouchTick: number;
  /** Reported expired; its closeSession is on its way (touches no longer count). */
  expiring: boolean;
  /** When it was last reported expired (reported again each timeout until the close applies). */
  expiredTick: number;
}

/**
 * The sessions a member tracks, as inputs and outputs of the state machine: every member tracks
 * the sessions of its applied state (any of them may lead next); the leader owns their clocks and
 * reports expiries; learners collect touches and forward them in ping replies.
 */
export class SessionTable {
  private readonly sessions = new Map<bigint, SessionRecord>();
  private readonly pendingTouches = new Set<bigint>();

  /** A createSession was applied (or the session was recovered): its clock starts now. */
  track(sessionId: bigint, timeoutTicks: number, now: number): void {
    this.sessions.set(sessionId, { timeoutTicks, lastTouchTick: now, expiring: false, expiredTick: 0 });
  }

  /** A closeSession was applied. */
  untrack(sessionId: bigint): void {
    this.sessions.delete(sessionId);
    this.pendingTouches.delete(sessionId);
  }

  ids(): bigint[] {
    return [...this.sessions.keys()];
  }

  /** Leader: the session showed life; ignored once it was reported expired (as ZooKeeper's closing sessions). */
  touchAsLeader(sessionId: bigint, now: number): void {
    const s = this.sessions.get(sessionId);
    if (s !== undefined && !s.expiring) s.lastTouchTick = now;
  }

  /** Learner: remember the touch for the next ping reply. */
  touchAsLearner(sessionId: bigint): void {
    this.pendingTouches.add(sessionId);
  }

  /** Learner: the touches to forward now (then forgotten). */
  takeTouches(): bigint[] {
    const out = [...this.pendingTouches];
    this.pendingTouches.clear();
    return out;
  }

  /**
   * A new leadership starts every clock afresh, as ZooKeeper's new SessionTracker does; an expiry
   * reported under an earlier leadership whose close never committed is forgotten too.
   */
  restartClocks(now: number): void {
    for (const s of this.sessions.values()) {
      s.lastTouchTick = now;
      s.expiring = false;
    }
  }

  /**
   * Leader, each tick: the sessions to report expired now — silent past their timeout, or
   * reported before and still not closed a whole timeout later (the shell could not propose the
   * close, or it was lost), so that no session and none of its ephemerals lives forever.
   */
  expired(now: number): bigint[] {
    const out: bigint[] = [];
    for (const [id, s] of this.sessions) {
      const due = s.expiring ? now - s.expiredTick > s.timeoutTicks : now - s.lastTouchTick > s.timeoutTicks;
      if (!due) continue;
      s.expiring = true;
      s.expiredTick = now;
      out.push(id);
    }
    return out;
  }
}
