import { mkdir } from 'node:fs/promises';
import { CloseCode } from '@conclave/core';
import pino, { type Logger } from 'pino';
import { Database, Preparer, WatchManager } from '../datatree/index.js';
import { Storage } from '../log/index.js';
import { Listener } from '../net/listener.js';
import { adminHandler } from './admin.js';
import { LocalReplicator } from './local-replicator.js';
import { CleanupTask, SnapshotScheduler } from './maintenance.js';
import { ServerMetrics } from './metrics.js';
import { resolveOptions, type ServerOptions } from './options.js';
import { RequestPipeline } from './pipeline.js';

/** A running member. */
export interface Server {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  readonly host: string;
  /** `host:port`, what a client's connect string holds. */
  readonly connectString: string;
  /** `http://host:port/admin`; append `/ruok`, `/mntr`, … */
  readonly adminUrl: string;
  /** 'standalone' (a one-member quorum). */
  readonly mode: string;
  /** Last applied zxid. */
  readonly lastZxid: bigint;
  /** Writes a snapshot now (normally they are taken every `snapshotEveryTxns` txns). */
  snapshot(): Promise<void>;
  /** Runs one container/TTL cleanup pass now; returns how many deletes were proposed. */
  runCleanup(): number;
  /** Stops accepting, closes every connection, waits for pending writes to be durable, closes storage. */
  close(): Promise<void>;
}

/**
 * Starts a standalone member: recovers the data directory (newest snapshot + log replay), starts
 * a new epoch, and serves the client protocol and the admin endpoint on one port.
 *
 * ```ts
 * const server = await startServer({ dataDir: '/var/lib/conclave' });
 * console.log(server.connectString); // 127.0.0.1:41234
 * await server.close();
 * ```
 */
export async function startServer(options: ServerOptions): Promise<Server> {
  const opts = resolveOptions(options);
  const log: Logger = options.logger ?? pino({ level: 'silent' });
  await mkdir(opts.dataDir, { recursive: true });
  const storage = await Storage.open({
    dir: opts.dataDir,
    fsync: opts.fsync,
    snapshotsToKeep: opts.snapshotsToKeep,
  });
  let listener: Listener | null = null;
  try {
    const recovered = await storage.recover<Database>({
      empty: () => new Database({ maxDataBytes: opts.maxDataBytes }),
      load: (chunks) => Database.restore(chunks, { maxDataBytes: opts.maxDataBytes }),
      apply: (db, entry) => {
        db.apply(entry);
      },
    });
    const db = recovered.state;
    log.info(
      { lastZxid: recovered.lastZxid.toString(16), snapshotZxid: recovered.snapshotZxid.toString(16) },
      'recovered',
    );
    const metrics = new ServerMetrics();
    const preparer = new Preparer(db, { maxDataBytes: opts.maxDataBytes, superDigest: opts.superDigest });
    const watches = new WatchManager({ maxWatchesPerSession: opts.maxWatchesPerSession });
    const replicator = new LocalReplicator(storage, db.lastZxid);
    const pipeline = new RequestPipeline(db, preparer, watches, replicator, opts, metrics, log);
    const snapshots = new SnapshotScheduler(db, storage, opts.snapshotEveryTxns, metrics, log);
    pipeline.onApplied = () => snapshots.applied();
    await replicator.start({
      commit: (e) => pipeline.commit(e),
      fail: (e) => {
        pipeline.fail(e);
        options.onFatal?.(e);
      },
    });
    const cleanup = new CleanupTask(pipeline, opts.cleanupIntervalMs);
    const startedAtMs = Date.now();
    listener = await Listener.start({
      host: opts.host,
      port: opts.port,
      // Frames between maxFrameBytes and twice that get our FRAME_TOO_LARGE close; ws refuses
      // anything larger itself (close 1009) without buffering it.
      maxPayloadBytes: 2 * opts.maxFrameBytes,
      maxConnectionsPerIp: opts.maxConnectionsPerIp,
      onConnection: (ws, address, port) => pipeline.accept(ws, address, port),
      onHttpRequest: adminHandler(() => ({
        pipeline,
        metrics,
        mode: replicator.mode,
        dataDir: opts.dataDir,
        startedAtMs,
        storage,
      })),
    });
    pipeline.start();
    cleanup.start();
    const bound = listener;
    const host = opts.host;
    const port = bound.port;
    const hostForUrl = host.includes(':') ? `[${host}]` : host;
    log.info({ host, port, dataDir: opts.dataDir, epoch: replicator.currentEpoch }, 'serving');
    let closing: Promise<void> | null = null;
    return {
      port,
      host,
      connectString: `${hostForUrl}:${port}`,
      adminUrl: `http://${hostForUrl}:${port}/admin`,
      mode: replicator.mode,
      get lastZxid() {
        return db.lastZxid;
      },
      snapshot: () => snapshots.take(),
      runCleanup: () => cleanup.runOnce(),
      close() {
        closing ??= (async () => {
          cleanup.stop();
          pipeline.stop();
          await bound.close(CloseCode.NOT_SERVING, 'server shutting down');
          await replicator.close();
          await snapshots.idle();
          await storage.close();
          log.info('closed');
        })();
        return closing;
      },
    };
  } catch (err) {
    await listener?.close(CloseCode.NOT_SERVING, 'server failed to start');
    await storage.close();
    throw err;
  }
}
