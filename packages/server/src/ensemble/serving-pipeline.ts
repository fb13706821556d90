import type { Logger } from 'pino';
import { type Database, WatchManager } from '../datatree/index.js';
import { SnapshotScheduler, type SnapshotStore } from '../server/maintenance.js';
import type { ServerMetrics } from '../server/metrics.js';
import type { ResolvedOptions } from '../server/options.js';
import { RequestPipeline } from '../server/pipeline.js';
import type { Proposal, Replicator } from '../server/replicator.js';
import { RoutingPreparer } from './routing-preparer.js';

/** What a serving period's pipeline needs from the member shell. */
export interface ServingDeps {
  db: Database;
  opts: ResolvedOptions;
  metrics: ServerMetrics;
  log: Logger;
  /** `srvr`'s Mode. */
  mode: string;
  /** Snapshot writes go to the member's current Storage. */
  store: SnapshotStore;
  /** Still the current period? A stopped period's leftovers must not act. */
  current: () => boolean;
  route: (p: Proposal) => void;
  sync: () => Promise<void>;
  /** A session showed life here. */
  touch: (sessionId: bigint) => void;
  /** A client connection of the session was bound here (session created or resumed). */
  bound: (sessionId: bigint) => void;
}

/**
 * Builds the client pipeline of one serving period (ZooKeeper builds a new ZooKeeperServer per
 * leader): the standalone server's RequestPipeline with a fresh WatchManager, a RoutingPreparer
 * (writes go to the leader), a replicator facade over the member shell, and periodic snapshots.
 */
export function buildServingPipeline(d: ServingDeps): {
  pipeline: RequestPipeline;
  snapshots: SnapshotScheduler;
} {
  const replicator: Replicator = {
    mode: d.mode,
    // Every member's pipeline takes writes: they are routed to the leader for prep.
    isLeader: true,
    start: async () => {},
    // A stopped period's connections are closed: whatever they still send is dropped.
    propose: (p) => {
      if (d.current()) d.route(p);
    },
    sync: () => (d.current() ? d.sync() : new Promise(() => {})),
    get pending() {
      return 0;
    },
    close: async () => {},
  };
  const pipeline = new RequestPipeline(
    d.db,
    new RoutingPreparer().asPreparer(),
    new WatchManager({ maxWatchesPerSession: d.opts.maxWatchesPerSession }),
    replicator,
    d.opts,
    d.metrics,
    d.log,
  );
  // Expiry belongs to the ZAB leader (ZabNode's session tracking), not to each member's pipeline;
  // the pipeline's tracker only records liveness, which the node forwards to the leader.
  const tracker = pipeline.tracker;
  tracker.expire = () => [];
  const touch = tracker.touch.bind(tracker);
  // Connections whose session binding was announced. The pipeline touches a session right after
  // binding a connection to it (resume) and on each of its requests, before any is proposed, so
  // the first touch of a connection is where the member learns it holds the session now.
  const announced = new WeakSet<object>();
  tracker.touch = (sessionId, nowMs) => {
    if (sessionId !== 0n) {
      const conn = pipeline.bySession.get(sessionId);
      if (conn !== undefined && !announced.has(conn)) {
        announced.add(conn);
        d.bound(sessionId);
      }
      d.touch(sessionId);
    }
    return touch(sessionId, nowMs);
  };
  // Snapshots are taken of applied (hence committed) state only, as the node requires.
  const snapshots = new SnapshotScheduler(d.db, d.store, d.opts.snapshotEveryTxns, d.metrics, d.log);
  pipeline.onApplied = () => snapshots.applied();
  return { pipeline, snapshots };
}
