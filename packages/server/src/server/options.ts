import { Limits } from '@conclave/core';
import type { Logger } from 'pino';

/** Options of {@link startServer}; every limit has a default (TigerBeetle style: a bound on everything). */
export interface ServerOptions {
  /** Where the txn log, snapshots and epoch files live (created if missing). */
  dataDir: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** ZooKeeper's tickTime: the unit of session timeouts and of the expiry buckets. Default 2000. */
  tickMs?: number;
  /** Default 2 × tickMs. */
  minSessionTimeoutMs?: number;
  /** Default 20 × tickMs. */
  maxSessionTimeoutMs?: number;
  /** Largest frame accepted on the wire. Default Limits.maxFrameBytes (1 MiB + 64 KiB). */
  maxFrameBytes?: number;
  /** Largest znode data. Default Limits.maxDataBytes (1 MiB). */
  maxDataBytes?: number;
  /** 'super:<base64 sha1>' as ZooKeeper's zookeeper.DigestAuthenticationProvider.superDigest. */
  superDigest?: string;
  /** Default true. false skips fsync: UNSAFE, for tests only. */
  fsync?: boolean;
  /** Take a snapshot every this many txns. Default 100000. */
  snapshotEveryTxns?: number;
  /** Snapshots kept by purge. Default 3. */
  snapshotsToKeep?: number;
  /** ZooKeeper's maxClientCnxns: connections one client address may hold; 0 = no limit. Default 60. */
  maxConnectionsPerIp?: number;
  /** Per connection; over it the server stops reading from the socket. Default Limits.maxOutstandingRequests. */
  maxOutstandingRequests?: number;
  /**
   * Unsent output per connection above which the server stops answering (and reading) that
   * connection until its socket drains. Default 8 MiB. Four times this (at least this plus two
   * frames) is the hard cap: past it the connection is closed with CloseCode.SLOW_CONSUMER.
   */
  maxBufferedBytesPerConnection?: number;
  /** Watches one session may hold. Default Limits.maxWatchesPerSession. */
  maxWatchesPerSession?: number;
  /** How often empty containers and expired TTL nodes are looked for. Default 60000 ms. */
  cleanupIntervalMs?: number;
  /** Member id in the high byte of session ids. Default 1. */
  memberId?: number;
  /** Default: a silent pino logger. */
  logger?: Logger;
  /**
   * Called once if the server stops serving because it can no longer make writes durable (the
   * log failed) or a committed txn could not be applied. The process should close the server and
   * exit; restarting recovers from the data directory.
   */
  onFatal?: (err: Error) => void;
}

export type ResolvedOptions = Required<Omit<ServerOptions, 'superDigest' | 'logger' | 'onFatal'>> & {
  superDigest: string | undefined;
};

export function resolveOptions(opts: ServerOptions): ResolvedOptions {
  const tickMs = opts.tickMs ?? 2000;
  const r: ResolvedOptions = {
    dataDir: opts.dataDir,
    port: opts.port ?? 0,
    host: opts.host ?? '127.0.0.1',
    tickMs,
    minSessionTimeoutMs: opts.minSessionTimeoutMs ?? 2 * tickMs,
    maxSessionTimeoutMs: opts.maxSessionTimeoutMs ?? 20 * tickMs,
    maxFrameBytes: opts.maxFrameBytes ?? Limits.maxFrameBytes,
    maxDataBytes: opts.maxDataBytes ?? Limits.maxDataBytes,
    superDigest: opts.superDigest,
    fsync: opts.fsync ?? true,
    snapshotEveryTxns: opts.snapshotEveryTxns ?? 100_000,
    snapshotsToKeep: opts.snapshotsToKeep ?? 3,
    // As ZooKeeper, 0 turns the per-address limit off.
    maxConnectionsPerIp:
      opts.maxConnectionsPerIp === 0 ? Number.MAX_SAFE_INTEGER : (opts.maxConnectionsPerIp ?? 60),
    maxOutstandingRequests: opts.maxOutstandingRequests ?? Limits.maxOutstandingRequests,
    maxBufferedBytesPerConnection: opts.maxBufferedBytesPerConnection ?? 8 * 1024 * 1024,
    maxWatchesPerSession: opts.maxWatchesPerSession ?? Limits.maxWatchesPerSession,
    cleanupIntervalMs: opts.cleanupIntervalMs ?? 60_000,
    memberId: opts.memberId ?? 1,
  };
  const positive: (keyof ResolvedOptions)[] = [
    'tickMs',
    'minSessionTimeoutMs',
    'maxSessionTimeoutMs',
    'maxFrameBytes',
    'maxDataBytes',
    'snapshotEveryTxns',
    'maxConnectionsPerIp',
    'maxOutstandingRequests',
    'maxBufferedBytesPerConnection',
    'maxWatchesPerSession',
    'cleanupIntervalMs',
  ];
  for (const k of positive) {
    const v = r[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new RangeError(`startServer: option ${k} must be a positive number, got ${String(v)}`);
    }
  }
  if (r.minSessionTimeoutMs > r.maxSessionTimeoutMs) {
    throw new RangeError(
      `startServer: minSessionTimeoutMs (${r.minSessionTimeoutMs}) exceeds maxSessionTimeoutMs (${r.maxSessionTimeoutMs})`,
    );
  }
  if (typeof r.dataDir !== 'string' || r.dataDir === '')
    throw new RangeError('startServer: dataDir is required');
  return r;
}

/**
 * The hard cap on one connection's unsent output: 4 × maxBufferedBytesPerConnection, and at least
 * that plus two frames, so a well-behaved client that just received a large response is never
 * taken for a slow consumer.
 */
export function closeBufferedBytes(opts: ResolvedOptions): number {
  const soft = opts.maxBufferedBytesPerConnection;
  return Math.max(4 * soft, soft + 2 * opts.maxFrameBytes);
}
