import type { Zxid } from '@conclave/core';
import { commonPoint } from './history.js';

/** How the leader brings one learner to its history. */
export interface SyncPlan {
  how: 'diff' | 'trunc' | 'snap';
  /**
   * diff: the learner's last zxid (send everything after it). trunc: the zxid to truncate to (then
   * send everything after it). snap: the snapshot's zxid (send everything after it).
   */
  fromZxid: Zxid;
}

/**
 * Chooses DIFF, TRUNC or SNAP from the learner's position (its ACKEPOCH) and the leader's history:
 * - the last zxid both share is found from the learner's epoch records ({@link commonPoint});
 * - below the snapshot the learner can rebuild from (a TRUNC there could not be undone by the
 *   learner), or below the leader's in-memory window and below `logFloor` (the point from which
 *   the leader's shell can read its durable log, when it said so) → SNAP at the leader's applied
 *   zxid;
 * - the learner has more than the shared point (an uncommitted tail of an old epoch) → TRUNC;
 * - otherwise the learner is a prefix → DIFF.
 */
export function planSync(
  leader: { baseZxid: Zxid; lastCounterOf(epoch: number): number | undefined },
  leaderAppliedZxid: Zxid,
  learner: { lastZxid: Zxid; snapshotZxid: Zxid; epochs: ReadonlyArray<readonly [number, number]> },
  logFloor?: Zxid,
): SyncPlan {
  const common = commonPoint(leader, learner.epochs);
  const reachable = common >= leader.baseZxid || (logFloor !== undefined && common >= logFloor);
  if (!reachable || common < learner.snapshotZxid) return { how: 'snap', fromZxid: leaderAppliedZxid };
  if (common < learner.lastZxid) return { how: 'trunc', fromZxid: common };
  return { how: 'diff', fromZxid: common };
}
