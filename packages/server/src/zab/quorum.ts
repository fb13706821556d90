import type { Zxid } from '@conclave/core';
import type { NodeId, Vote, ZabRole } from './types.js';

/** Majority of the voters: the quorum ZAB needs for epochs, syncs, commits and confirmations. */
export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/** True when `members` (ids) hold a majority of `voters`. Non-voters in `members` are ignored. */
export function hasQuorum(voters: ReadonlySet<NodeId>, members: Iterable<NodeId>): boolean {
  let n = 0;
  for (const m of members) if (voters.has(m)) n++;
  return n >= quorumSize(voters.size);
}

/**
 * The highest value that a quorum has reached: sort the voters' values descending and take the
 * quorum-th. With cumulative ACKs this is the commit point. undefined when too few values.
 */
export function quorumValue(values: Zxid[], voterCount: number): Zxid | undefined {
  const q = quorumSize(voterCount);
  if (values.length < q) return undefined;
  const sorted = [...values].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
  return sorted[q - 1];
}

/** FastLeaderElection's total order: larger peerEpoch, then larger zxid, then larger sid wins. */
export function voteIsBetter(candidate: Vote, current: Vote): boolean {
  if (candidate.peerEpoch !== current.peerEpoch) return candidate.peerEpoch > current.peerEpoch;
  if (candidate.zxid !== current.zxid) return candidate.zxid > current.zxid;
  return candidate.leader > current.leader;
}

export function sameVote(a: Vote, b: Vote): boolean {
  return a.leader === b.leader && a.zxid === b.zxid && a.peerEpoch === b.peerEpoch;
}

/**
 * True when a quorum of voters in `tally` vote for `vote`: exactly (leader, zxid, peerEpoch) among
 * looking members; by leader and epoch only for members outside an election (ZOOKEEPER-1732).
 */
export function tallyAgrees(
  voters: ReadonlySet<NodeId>,
  tally: ReadonlyMap<NodeId, { vote: Vote; state: ZabRole }>,
  vote: Vote,
  exact: boolean,
): boolean {
  const agreeing: NodeId[] = [];
  for (const [sid, t] of tally) {
    const same = exact
      ? sameVote(t.vote, vote)
      : t.vote.leader === vote.leader && t.vote.peerEpoch === vote.peerEpoch;
    if (same) agreeing.push(sid);
  }
  return hasQuorum(voters, agreeing);
}
