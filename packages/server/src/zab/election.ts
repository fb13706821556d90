import { tallyAgrees, voteIsBetter } from './quorum.js';
import type { TalliedVote } from './roles.js';
import type { NodeId, Vote, ZabRole } from './types.js';

/** A notification as the election reads it (the message minus addressing). */
export interface NotificationIn {
  from: NodeId;
  state: ZabRole;
  electionEpoch: number;
  vote: Vote;
}

/** What the election needs from its member: identity, time, randomness, and where decisions go. */
export interface ElectionHost {
  readonly id: NodeId;
  readonly voters: ReadonlySet<NodeId>;
  readonly observers: ReadonlySet<NodeId>;
  readonly isObserver: boolean;
  readonly electionTimeoutTicks: number;
  readonly finalizeWaitTicks: number;
  now(): number;
  /** A draw from the injected PRNG (jitter of the re-send interval). */
  random(): number;
  /** This member's own candidacy: `(currentEpoch, lastZxid, id)`. */
  selfVote(): Vote;
  /** Send `to` a notification with this member's role, {@link FastLeaderElection.logicalClock} and vote. */
  notify(to: NodeId): void;
  /** A leader was decided: become it, or follow/observe it. */
  conclude(vote: Vote): void;
}

/**
 * ZooKeeper's FastLeaderElection (lookForLeader) for one LOOKING member: votes
 * `(peerEpoch, zxid, sid)`, larger wins; a decision once a quorum of voters agrees on our vote
 * and no better one arrived for `finalizeWaitTicks`; or joining an existing leader when a quorum
 * of FOLLOWING/LEADING members name it and it says LEADING itself (checkLeader). Observers never
 * count and only ever join.
 */
export class FastLeaderElection {
  /** The election round (ZooKeeper's logicalclock). */
  logicalClock = 0;
  /** Our current proposal while looking; the decided vote after. */
  vote: Vote = { leader: -1, zxid: 0n, peerEpoch: -1 };
  /** Votes of this round. */
  private readonly recvset = new Map<NodeId, TalliedVote>();
  /** FOLLOWING/LEADING members of any round: who they say leads. */
  private readonly outOfElection = new Map<NodeId, TalliedVote>();
  private decideAtTick: number | undefined;
  private nextResendTick = 0;

  constructor(private readonly host: ElectionHost) {}

  /** Starts a new round: vote for ourselves (observers for nobody) and tell everyone. */
  start(): void {
    const h = this.host;
    this.logicalClock++;
    this.vote = h.isObserver ? { leader: -1, zxid: 0n, peerEpoch: -1 } : h.selfVote();
    this.recvset.clear();
    this.outOfElection.clear();
    this.decideAtTick = undefined;
    if (!h.isObserver)
      this.recvset.set(h.id, { vote: this.vote, electionEpoch: this.logicalClock, state: 'looking' });
    this.broadcast();
    if (!h.isObserver && h.voters.size === 1) this.conclude(this.vote);
  }

  /** A notification arrived while we are LOOKING. */
  step(n: NotificationIn): void {
    const h = this.host;
    if (h.observers.has(n.from)) {
      // Observers never count; a looking voter still answers so the observer learns the state.
      if (!h.isObserver && n.state === 'looking') h.notify(n.from);
      return;
    }
    if (n.state === 'looking') {
      if (h.isObserver) return;
      if (n.electionEpoch > this.logicalClock) {
        this.logicalClock = n.electionEpoch;
        this.recvset.clear();
        const mine = h.selfVote();
        this.vote = voteIsBetter(n.vote, mine) ? { ...n.vote } : mine;
        this.broadcast();
      } else if (n.electionEpoch < this.logicalClock) {
        h.notify(n.from);
        return;
      } else if (voteIsBetter(n.vote, this.vote)) {
        this.vote = { ...n.vote };
        this.broadcast();
      }
      this.recvset.set(n.from, { vote: { ...n.vote }, electionEpoch: n.electionEpoch, state: n.state });
      this.recvset.set(h.id, { vote: this.vote, electionEpoch: this.logicalClock, state: 'looking' });
      if (this.quorumAgrees(this.recvset, this.vote, true)) {
        if (this.decideAtTick === undefined) this.decideAtTick = h.now() + h.finalizeWaitTicks;
      } else {
        this.decideAtTick = undefined;
      }
      return;
    }
    // The sender is FOLLOWING or LEADING: an established (or establishing) leader may exist.
    const tallied = { vote: { ...n.vote }, electionEpoch: n.electionEpoch, state: n.state };
    if (n.electionEpoch === this.logicalClock) {
      this.recvset.set(n.from, tallied);
      if (
        this.quorumAgrees(this.recvset, n.vote, false) &&
        this.checkLeader(this.recvset, n.vote.leader, n.electionEpoch)
      ) {
        this.conclude(n.vote);
        return;
      }
    }
    this.outOfElection.set(n.from, tallied);
    if (
      this.quorumAgrees(this.outOfElection, n.vote, false) &&
      this.checkLeader(this.outOfElection, n.vote.leader, n.electionEpoch)
    ) {
      this.logicalClock = n.electionEpoch;
      this.conclude(n.vote);
    }
  }

  /** One tick while LOOKING: decide after the finalize wait, or re-send our vote. */
  tick(): void {
    const now = this.host.now();
    if (
      this.decideAtTick !== undefined &&
      now >= this.decideAtTick &&
      this.quorumAgrees(this.recvset, this.vote, true)
    ) {
      this.conclude(this.vote);
      return;
    }
    if (now >= this.nextResendTick) this.broadcast();
  }

  private broadcast(): void {
    const h = this.host;
    for (const v of h.voters) if (v !== h.id) h.notify(v);
    for (const o of h.observers) if (o !== h.id) h.notify(o);
    this.nextResendTick = h.now() + h.electionTimeoutTicks + (h.random() % (h.electionTimeoutTicks + 1));
  }

  private quorumAgrees(set: Map<NodeId, TalliedVote>, vote: Vote, exact: boolean): boolean {
    return tallyAgrees(this.host.voters, set, vote, exact);
  }

  /** Never join a leader we have not heard claim LEADING itself (ZooKeeper's checkLeader). */
  private checkLeader(set: Map<NodeId, TalliedVote>, leader: NodeId, electionEpoch: number): boolean {
    if (leader === this.host.id) return electionEpoch === this.logicalClock;
    return set.get(leader)?.state === 'leading';
  }

  private conclude(vote: Vote): void {
    this.vote = { ...vote };
    this.decideAtTick = undefined;
    this.host.conclude(vote);
  }
}
