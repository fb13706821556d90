/**
 * What the demo's backend sends to the dashboard over Server-Sent Events. Shared by the Node side
 * (which builds it) and the browser side (which renders it), so both agree on one shape. Every
 * number is plain JSON: zxids travel as hex strings because JSON has no bigint.
 */

/** One ensemble member as its own admin endpoint describes it (never invented by the demo). */
export interface MemberView {
  id: number;
  /** 'leader' | 'follower' | 'observer' | 'looking' while the process answers; 'down' when not. */
  role: 'leader' | 'follower' | 'observer' | 'looking' | 'down';
  up: boolean;
  /** Serving clients (a synced follower or an established leader). */
  serving: boolean;
  pid: number | null;
  clientPort: number;
  epoch: number | null;
  /** Hex, e.g. '0x300000012'. */
  lastZxid: string | null;
  sessions: number | null;
  connections: number | null;
  znodes: number | null;
  /** Every quorum link of this member is cut by the demo (partition button). */
  isolated: boolean;
  /** A kill/restart/isolate is in progress for this member. */
  busy: string | null;
}

/** How a worker process sees the world: reported by the worker itself over its stdout. */
export interface WorkerView {
  id: string;
  pid: number | null;
  up: boolean;
  connection: string;
  sessionId: string | null;
  roles: ('producer' | 'consumer')[];
  lock: 'idle' | 'waiting' | 'holding';
  /** Since when (epoch ms) it waits or holds. */
  lockSinceMs: number | null;
  lockAcquisitions: number;
  isLeader: boolean;
  config: unknown;
  configVersion: number | null;
  produced: number;
  consumed: number;
  restarts: number;
}

export interface LeaderChange {
  atMs: number;
  leader: string | null;
}

export interface DashboardSnapshot {
  nowMs: number;
  startedAtMs: number;
  /** How the ensemble runs, said plainly in the header. */
  ensembleNote: string;
  connectString: string;
  members: MemberView[];
  /** Id of the member that leads and serves, if any. */
  leaderId: number | null;
  epoch: number | null;
  /** Since when (epoch ms) no member leads, while that lasts. */
  noLeaderSinceMs: number | null;
  /** The dashboard backend's own client state. */
  backendConnection: string;
  workers: WorkerView[];
  lock: {
    path: string;
    holder: string | null;
    holderSinceMs: number | null;
    /** Worker ids in the order they started waiting. */
    waiters: string[];
    /** Queue nodes under the lock path, read from Conclave itself. */
    queueNodes: number | null;
    handoffsPerSec: number;
    /** Hand-offs/s, one sample a second, oldest first (the last SERIES_LENGTH seconds). */
    handoffsSeries: number[];
  };
  election: {
    path: string;
    leader: string | null;
    participants: string[];
    history: LeaderChange[];
  };
  config: {
    path: string;
    value: unknown;
    version: number | null;
  };
  queue: {
    path: string;
    depth: number | null;
    producers: string[];
    consumers: string[];
    producedPerSec: number;
    consumedPerSec: number;
    producedTotal: number;
    consumedTotal: number;
    /** Depth, one sample a second, oldest first. */
    depthSeries: number[];
  };
}

/** Seconds of history in the sparklines. */
export const SERIES_LENGTH = 120;

export type LogKind =
  | 'member'
  | 'failover'
  | 'worker'
  | 'watch'
  | 'state'
  | 'config'
  | 'election'
  | 'znode'
  | 'error';

export interface LogEntry {
  seq: number;
  atMs: number;
  kind: LogKind;
  text: string;
}

/** The config every worker reads (and obeys): edit it in the dashboard to see it spread. */
export interface DemoConfig {
  /** How long a worker holds the lock once it has it. */
  lockHoldMs: number;
  /** Pause between a producer's offers. */
  produceEveryMs: number;
  /** Simulated work per item a consumer takes. */
  consumeWorkMs: number;
  /** The election leader resigns after this long (0: never), so leadership moves. */
  leaderTermMs: number;
  message: string;
}

export const DEFAULT_CONFIG: DemoConfig = {
  lockHoldMs: 150,
  produceEveryMs: 300,
  consumeWorkMs: 120,
  leaderTermMs: 15000,
  message: 'hello from the config panel',
};

/** The znode paths the demo's workers use. */
export const PATHS = {
  root: '/demo',
  lock: '/demo/lock',
  election: '/demo/election',
  config: '/demo/config',
  queue: '/demo/queue',
} as const;

/** A znode as the browser shows it. */
export interface ZnodeView {
  path: string;
  /** UTF-8 text, or hex when the bytes are not valid UTF-8. */
  data: string;
  encoding: 'utf8' | 'hex';
  stat: Record<string, string | number>;
  children: string[];
}

/** A failed call, with ZooKeeper's code when Conclave answered one. */
export interface ApiError {
  error: { code: string; errno: number | null; message: string };
}
