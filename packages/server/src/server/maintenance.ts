import type { Logger } from 'pino';
import type { Database } from '../datatree/index.js';
import type { ServerMetrics } from './metrics.js';

/**
 * What {@link CleanupTask} drives: the standalone server's RequestPipeline fits as is; an ensemble
 * member provides one that reaps through its leader's Preparer.
 */
export interface CleanupHost {
  /** The applied state the candidates are read from. */
  readonly db: Pick<Database, 'containerCandidates' | 'ttlExpired'>;
  /** Only the leader cleans up (its Preparer sees every outstanding change). */
  readonly replicator: { readonly isLeader: boolean };
  /** Re-checks `path` against outstanding changes and proposes its delete; false if not eligible. */
  proposeServerDelete(path: string): boolean;
}

/** The part of Storage (log/) snapshots need. */
export interface SnapshotStore {
  snapshot(zxid: bigint, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void>;
  purge(): Promise<void>;
}

/**
 * Takes a snapshot every `everyTxns` applied txns, then purges old snapshots and logs. One at a
 * time: a snapshot that is still being written when the next is due just makes the next one wait
 * for the following trigger. The image is the Database's own consistent serialization at its
 * lastZxid (see Database.serialize), so the pipeline keeps applying while it is written.
 */
export class SnapshotScheduler {
  private sinceLast = 0;
  private running: Promise<void> | null = null;

  constructor(
    private readonly db: Database,
    private readonly store: SnapshotStore,
    private readonly everyTxns: number,
    private readonly metrics: ServerMetrics,
    private readonly log: Logger,
  ) {}

  applied(): void {
    this.sinceLast++;
    if (this.sinceLast >= this.everyTxns && this.running === null) {
      this.sinceLast = 0;
      this.running = this.take().finally(() => {
        this.running = null;
      });
    }
  }

  /** Writes a snapshot now (also used on demand by tests and shutdown). */
  async take(): Promise<void> {
    const zxid = this.db.lastZxid;
    const started = performance.now();
    try {
      await this.store.snapshot(zxid, this.db.serialize());
      await this.store.purge();
      this.metrics.snapshotsTaken++;
      this.log.info(
        { zxid: zxid.toString(16), ms: Math.round(performance.now() - started) },
        'snapshot taken',
      );
    } catch (err) {
      // A failed snapshot loses nothing (the log still has every txn); say so and try again later.
      this.log.error({ err }, 'snapshot failed; the txn log still holds everything');
    }
  }

  /** Resolves when no snapshot is being written. */
  async idle(): Promise<void> {
    while (this.running !== null) await this.running;
  }
}

/**
 * ZooKeeper's ContainerManager, plus TTL nodes: every `intervalMs` the leader proposes deletes
 * for empty containers that once had children and for childless TTL nodes past their TTL, as
 * server-owned txns (session 0). A node that gained a child meanwhile makes prep fail, and
 * nothing is proposed for it.
 */
export class CleanupTask {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly pipeline: CleanupHost,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.runOnce(), this.intervalMs);
    this.timer.unref();
  }

  /** One pass; returns how many deletes were proposed. */
  runOnce(): number {
    const p = this.pipeline;
    if (!p.replicator.isLeader) return 0;
    let proposed = 0;
    // Bounded per pass so a huge backlog cannot flood the pipeline in one go.
    const paths = [...p.db.containerCandidates(), ...p.db.ttlExpired(Date.now())].slice(0, 1000);
    for (const path of paths) if (p.proposeServerDelete(path)) proposed++;
    return proposed;
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
