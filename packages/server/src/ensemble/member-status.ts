import type { ZabRole } from '../zab/types.js';

/** What an ensemble member reports about itself (also served as JSON at `/admin/ensemble`). */
export interface MemberStatus {
  id: number;
  role: ZabRole;
  leaderId: number | null;
  serving: boolean;
  acceptedEpoch: number;
  currentEpoch: number;
  /** hex */
  lastLoggedZxid: string;
  lastAppliedZxid: string;
  committedZxid: string;
  sessions: number;
  /** Quorum messages dropped for want of a connection. */
  droppedMessages: number;
  /** How often this member was synced by its leader, by method (since start). */
  synced: { diff: number; trunc: number; snap: number };
  /** Times the database was rebuilt from disk because a TRUNC cut entries it had applied. */
  rebuilds: number;
  /** Leader: learners connected to it (followers and observers, synced or syncing). */
  learners: number;
  /** Leader: voting followers in sync (they ACKed NEWLEADER); ZooKeeper's zk_synced_followers. */
  syncedFollowers: number;
  /**
   * Leader: how many live sessions each member holds the client connection of (ZooKeeper's session
   * owners), by member id, as recorded in the current epoch.
   */
  sessionOwners: Record<number, number>;
  /**
   * Leader: propose → applied here (quorum-durable), over the proposals this member made as leader.
   * count/avg/max over all of them; p50/p99 over the most recent {@link LATENCY_WINDOW}.
   */
  proposalLatencyMs: LatencySummary;
}

/** Summary of latencies in ms. */
export interface LatencySummary {
  count: number;
  avg: number;
  p50: number;
  p99: number;
  max: number;
}

/** How many recent samples the percentiles are computed over (a bound on memory and on the sort). */
export const LATENCY_WINDOW = 1024;

/** Running count / mean / max of latencies in ms, and percentiles over a window of recent ones. */
export class LatencyStats {
  private count = 0;
  private sum = 0;
  private max = 0;
  /** Ring of the last LATENCY_WINDOW samples. */
  private readonly recent = new Float64Array(LATENCY_WINDOW);

  record(ms: number): void {
    this.recent[this.count % LATENCY_WINDOW] = ms;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  summary(): LatencySummary {
    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    const n = Math.min(this.count, LATENCY_WINDOW);
    const sorted = this.recent.slice(0, n).sort();
    // Nearest rank: the smallest sample with at least q of the window at or below it.
    const at = (q: number) => (n === 0 ? 0 : r3(sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]!));
    return {
      count: this.count,
      avg: this.count === 0 ? 0 : r3(this.sum / this.count),
      p50: at(0.5),
      p99: at(0.99),
      max: r3(this.max),
    };
  }
}

/** The role as ZooKeeper's `srvr` Mode line names it. */
export function modeOf(role: ZabRole): string {
  switch (role) {
    case 'leading':
      return 'leader';
    case 'following':
      return 'follower';
    case 'observing':
      return 'observer';
    case 'looking':
      return 'looking';
  }
}

/** The ensemble's gauges in Prometheus text, appended to `mntr` (ZooKeeper-style names). */
export function ensembleMetrics(st: MemberStatus): string {
  const rows: [string, 'gauge' | 'counter', number, string][] = [
    ['zk_current_epoch', 'gauge', st.currentEpoch, 'Epoch this member follows or leads'],
    ['zk_accepted_epoch', 'gauge', st.acceptedEpoch, 'Newest epoch this member accepted'],
    ['zk_committed_zxid', 'gauge', Number(BigInt(st.committedZxid)), 'Highest zxid known committed'],
    ['zk_last_logged_zxid', 'gauge', Number(BigInt(st.lastLoggedZxid)), 'Last zxid in the log'],
    ['zk_learners', 'gauge', st.learners, 'Leader: followers and observers connected'],
    [
      'zk_synced_followers',
      'gauge',
      st.syncedFollowers,
      'Leader: voting followers in sync (NEWLEADER ACKed)',
    ],
    ['zk_proposal_latency_avg', 'gauge', st.proposalLatencyMs.avg, 'Leader: propose → commit (ms), mean'],
    [
      'zk_proposal_latency_p50',
      'gauge',
      st.proposalLatencyMs.p50,
      'Leader: propose → commit (ms), median of recent',
    ],
    [
      'zk_proposal_latency_p99',
      'gauge',
      st.proposalLatencyMs.p99,
      'Leader: propose → commit (ms), p99 of recent',
    ],
    ['zk_proposal_latency_max', 'gauge', st.proposalLatencyMs.max, 'Leader: propose → commit (ms), max'],
    ['zk_proposals_committed', 'counter', st.proposalLatencyMs.count, 'Leader: proposals committed'],
    ['zk_quorum_dropped_messages', 'counter', st.droppedMessages, 'Quorum messages dropped (no connection)'],
    ['zk_synced_diff', 'counter', st.synced.diff, 'Times synced by DIFF'],
    ['zk_synced_trunc', 'counter', st.synced.trunc, 'Times synced by TRUNC'],
    ['zk_synced_snap', 'counter', st.synced.snap, 'Times synced by SNAP'],
  ];
  const lines: string[] = [];
  for (const [name, type, value, help] of rows) {
    lines.push(
      `# HELP ${name} ${help}`,
      `# TYPE ${name} ${type}`,
      `${name} ${Number.isFinite(value) ? value : 0}`,
    );
  }
  lines.push(
    '# HELP zk_peer_state ZAB role of this member',
    '# TYPE zk_peer_state gauge',
    `zk_peer_state{state="${st.role}",serving="${st.serving}"} 1`,
  );
  return `${lines.join('\n')}\n`;
}
