import { join, resolve } from 'node:path';
import { BadArgumentsError, SystemError, type TxnEntry, formatZxid } from '@conclave/core';
import { TEMP_SUFFIX } from './atomic-file.js';
import { type EpochFileName, readEpochFile, writeEpochFile } from './epoch-file.js';
import type { LogWriteError } from './errors.js';
import { DSYNC_SUPPORTED, type StorageFs, nodeFs, unlinkIfExists } from './file-system.js';
import { DEFAULT_MAX_RECORD_BYTES } from './record-format.js';
import { type RecoveryCodec, type RecoveryResult, recoverState } from './recovery.js';
import { type SnapshotRef, SnapshotStore } from './snapshot-store.js';
import { type LogStats, TxnLog } from './txn-log.js';

export interface StorageOptions {
  /** The member's data directory (created if missing). One Storage per directory at a time. */
  dir: string;
  /**
   * Default true. false skips every fsync: UNSAFE — an acknowledged append or a written epoch
   * can be lost on a power failure or kernel crash. For tests and benchmarks only.
   */
  fsync?: boolean;
  /** Preallocated size of a log segment; the log rolls to a new one beyond it. Default 64 MiB. */
  segmentBytes?: number;
  /** Snapshots kept by purge (and the log segments the oldest of them needs). Default 3. */
  snapshotsToKeep?: number;
  /** Purge after every snapshot. Default true. */
  purgeAfterSnapshot?: boolean;
  /** Appends waiting for the next group commit before further appends are throttled. Default 65,536. */
  maxPendingAppends?: number;
  /** Bytes waiting for the next group commit before further appends are throttled. Default 64 MiB. */
  maxPendingBytes?: number;
  /** Largest txn record. Default 32 MiB. */
  maxRecordBytes?: number;
  /** File system to use; tests inject faults (ENOSPC, EIO) through it. Default: node:fs. */
  fs?: StorageFs;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

/**
 * Directories opened by this process. Two Storage instances on one directory would interleave
 * segment writes and corrupt the log, so a second open fails until the first is closed. (Across
 * processes nothing is locked, as in ZooKeeper: a stale lock file after kill -9 would block the
 * restart that recovery exists for.)
 */
const openDirs = new Set<string>();
export const DEFAULT_SNAPSHOTS_TO_KEEP = 3;

/** StorageStats = the log's counters plus snapshot counts, for mntr and benchmarks. */
export interface StorageStats extends LogStats {
  snapshotsWritten: number;
  lastZxid: bigint;
  durableZxid: bigint;
  segments: number;
}

/**
 * A member's durable state: the transaction log (group-committed appends), snapshots, and the
 * two ZAB epoch files, in one directory. See README.md in this folder for the file formats and
 * the recovery rules.
 *
 * Startup: `open()` (repairs a torn log tail, refuses a damaged log), then `recover(codec)`.
 */
export class Storage {
  /** What open() and recover() repaired or skipped, for the server's log. */
  readonly notes: string[];
  private readonly dir: string;
  private readonly io: StorageFs;
  private readonly fsync: boolean;
  private readonly snapshotsToKeep: number;
  private readonly purgeAfterSnapshot: boolean;
  private readonly maxRecordBytes: number;
  private readonly log: TxnLog;
  private readonly snapshots: SnapshotStore;
  private snapshotChain: Promise<unknown> = Promise.resolve();
  private snapshotsWritten = 0;
  private closed = false;
  private readonly epochChains: Record<EpochFileName, Promise<void>> = {
    acceptedEpoch: Promise.resolve(),
    currentEpoch: Promise.resolve(),
  };

  private constructor(opts: Required<Omit<StorageOptions, 'fs'>> & { io: StorageFs }, log: TxnLog) {
    this.dir = opts.dir;
    this.io = opts.io;
    this.fsync = opts.fsync;
    this.snapshotsToKeep = opts.snapshotsToKeep;
    this.purgeAfterSnapshot = opts.purgeAfterSnapshot;
    this.maxRecordBytes = opts.maxRecordBytes;
    this.log = log;
    this.snapshots = new SnapshotStore(opts.dir, opts.io, opts.fsync);
    this.notes = [...log.repairs];
  }

  /** Opens (creating if needed) the storage in `opts.dir`. Throws StorageCorruptionError on a damaged log. */
  static async open(opts: StorageOptions): Promise<Storage> {
    const full = {
      dir: opts.dir,
      fsync: opts.fsync ?? true,
      segmentBytes: opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
      snapshotsToKeep: opts.snapshotsToKeep ?? DEFAULT_SNAPSHOTS_TO_KEEP,
      purgeAfterSnapshot: opts.purgeAfterSnapshot ?? true,
      maxPendingAppends: opts.maxPendingAppends ?? 65_536,
      maxPendingBytes: opts.maxPendingBytes ?? 64 * 1024 * 1024,
      maxRecordBytes: opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
      io: opts.fs ?? nodeFs,
      // O_DSYNC segments with the real file system only: an injected one (fault tests) must see
      // every fdatasync it hooks.
      dsync: DSYNC_SUPPORTED && opts.fs === undefined,
    };
    if (!Number.isInteger(full.segmentBytes) || full.segmentBytes < 4096) {
      throw new BadArgumentsError(`segmentBytes must be an integer ≥ 4096, got ${full.segmentBytes}`);
    }
    if (!Number.isInteger(full.snapshotsToKeep) || full.snapshotsToKeep < 1) {
      throw new BadArgumentsError(`snapshotsToKeep must be an integer ≥ 1, got ${full.snapshotsToKeep}`);
    }
    if (full.maxPendingBytes < full.maxRecordBytes) full.maxPendingBytes = full.maxRecordBytes + 8;
    const key = resolve(full.dir);
    if (openDirs.has(key)) {
      throw new SystemError(`${key} is already open by another Storage in this process; close it first`);
    }
    openDirs.add(key);
    try {
      return await Storage.openLocked(full);
    } catch (err) {
      openDirs.delete(key);
      throw err;
    }
  }

  private static async openLocked(
    full: Required<Omit<StorageOptions, 'fs'>> & { io: StorageFs; dsync: boolean },
  ): Promise<Storage> {
    await full.io.mkdir(full.dir);
    // A crash mid-snapshot or mid-epoch-write leaves a temp file that was never renamed: garbage.
    for (const name of await full.io.readdir(full.dir)) {
      if (name.endsWith(TEMP_SUFFIX)) await unlinkIfExists(full.io, join(full.dir, name));
    }
    const log = await TxnLog.open({ ...full });
    const storage = new Storage(full, log);
    // A snapshot beyond the log (SNAP sync) means the log continues after it.
    for (const ref of await storage.snapshots.list()) {
      if (ref.zxid <= log.lastZxid) break;
      if ((await storage.snapshots.trailerProblem(ref)) === undefined) {
        log.jumpTo(ref.zxid);
        break;
      }
    }
    return storage;
  }

  /** zxid of the last accepted append (durable once its promise resolved), or of a newer snapshot. */
  get lastZxid(): bigint {
    return this.log.lastZxid;
  }

  /** zxid of the last append known durable. */
  get durableZxid(): bigint {
    return this.log.durableZxid;
  }

  /**
   * Set once a write or fsync failed: every append then rejects with it until the storage is
   * closed and reopened. A server should stop serving writes (ZooKeeper halts).
   */
  get failure(): LogWriteError | undefined {
    return this.log.failure;
  }

  /** First zxid of the oldest retained log segment (DIFF is possible from one before it), if any. */
  get firstLogZxid(): bigint | undefined {
    return this.log.firstZxid;
  }

  /**
   * Appends a txn; resolves once it is durable (group commit: one fdatasync covers every append
   * queued meanwhile). zxids must increase, contiguous within an epoch. Rejects with
   * LogWriteError when the disk fails (and every later append too, until reopened),
   * ThrottledOpError when too many appends wait, BadArgumentsError on a misordered zxid.
   */
  append(entry: TxnEntry): Promise<void> {
    return this.log.append(entry);
  }

  /**
   * Drops every entry with zxid > `zxid` (ZAB TRUNC), durably, and every snapshot beyond it.
   * Refuses (BadArgumentsError) to cut below the oldest snapshot: recovery could not rebuild that
   * state; such a follower needs SNAP.
   */
  async truncate(zxid: bigint): Promise<void> {
    await this.snapshotChain.catch(() => {});
    if (this.log.failure) throw this.log.failure;
    const refs = await this.snapshots.list();
    if (refs.length > 0 && !refs.some((r) => r.zxid <= zxid)) {
      throw new BadArgumentsError(
        `cannot truncate to ${formatZxid(zxid)}: the oldest snapshot is at ${formatZxid(refs[refs.length - 1]!.zxid)}; sync by SNAP`,
      );
    }
    const floor = refs.find((r) => r.zxid <= zxid)?.zxid ?? 0n;
    await this.assertLogReaches(floor, zxid);
    // The log first, then the snapshots beyond `zxid`. A crash in between leaves such a snapshot
    // plus a log that ends before it: a consistent, longer prefix of the old history (the leader
    // truncates again). The other order is not safe: with a snapshot gone, a segment that continued
    // after it (SNAP sync) would continue from a zxid nothing recovers, and recovery would refuse.
    await this.log.truncate(zxid);
    let removed = false;
    for (const ref of refs) {
      if (ref.zxid > zxid) {
        await this.snapshots.delete(ref);
        removed = true;
      }
    }
    if (removed) await this.snapshots.syncDir();
    if (floor > this.log.lastZxid) this.log.jumpTo(floor);
  }

  /**
   * Throws BadArgumentsError unless the log holds every entry in (floor, zxid], `floor` being the
   * snapshot a truncate to `zxid` falls back to. Part of that range may exist only in a snapshot
   * beyond `zxid` (a SNAP sync skipped it in the log); truncating would delete that snapshot and
   * silently leave a history that ends before `zxid`, with a hole a later epoch's appends would
   * hide. Such a member needs SNAP, as in ZooKeeper when a follower cannot truncate its log.
   */
  private async assertLogReaches(floor: bigint, zxid: bigint): Promise<void> {
    if (zxid <= floor || zxid >= this.log.lastZxid) return;
    await this.log.whenIdle();
    try {
      for await (const entry of this.log.readFrom(floor)) if (entry.zxid >= zxid) return;
    } catch (err) {
      if (!(err instanceof BadArgumentsError)) throw err;
      throw new BadArgumentsError(
        `cannot truncate to ${formatZxid(zxid)}: the log does not hold every txn after the snapshot at ${formatZxid(floor)} up to it (${err.message})`,
      );
    }
  }

  /** The durable entries with zxid > `zxid`, in order (DIFF sync). See TxnLog.readFrom. */
  readFrom(zxid: bigint): AsyncIterable<TxnEntry> {
    return this.log.readFrom(zxid);
  }

  /**
   * Writes a snapshot of the state at `zxid` from `chunks` (streamed; the caller guarantees the
   * chunks are a consistent image at `zxid`). Appends may continue meanwhile. A snapshot beyond
   * the log (SNAP sync) makes the log continue after it. Purges afterwards unless disabled.
   */
  snapshot(zxid: bigint, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
    const run = this.snapshotChain
      .catch(() => {})
      .then(async () => {
        await this.snapshots.write(zxid, chunks);
        this.snapshotsWritten++;
        if (zxid > this.log.lastZxid) {
          await this.log.whenIdle();
          if (zxid > this.log.lastZxid) this.log.jumpTo(zxid);
        }
        if (this.purgeAfterSnapshot) await this.purgeNow();
      });
    this.snapshotChain = run;
    return run;
  }

  /**
   * Rebuilds the state: newest valid snapshot (falling back to older ones) + log replay. Call once,
   * after open and before the first append. Throws StorageCorruptionError on a damaged log.
   */
  async recover<S>(codec: RecoveryCodec<S>): Promise<RecoveryResult<S>> {
    if (!this.log.untouched) throw new Error('invariant: recover() must run before the first append');
    const result = await recoverState(
      this.snapshots,
      this.log,
      this.io,
      this.maxRecordBytes,
      codec,
      this.notes,
    );
    // open() trusted the newest snapshot's trailer; if it failed deeper checks, the log really
    // continues from what was recovered.
    if (result.lastZxid > this.log.lastZxid) this.log.jumpTo(result.lastZxid);
    else if (result.lastZxid < this.log.lastZxid) this.log.resetLastZxid(result.lastZxid);
    return result;
  }

  async readEpochs(): Promise<{ acceptedEpoch: number; currentEpoch: number }> {
    return {
      acceptedEpoch: await readEpochFile(this.io, this.dir, 'acceptedEpoch'),
      currentEpoch: await readEpochFile(this.io, this.dir, 'currentEpoch'),
    };
  }

  /** Persists acceptedEpoch atomically (durable when the promise resolves). */
  writeAcceptedEpoch(epoch: number): Promise<void> {
    return this.writeEpoch('acceptedEpoch', epoch);
  }

  /** Persists currentEpoch atomically (durable when the promise resolves). */
  writeCurrentEpoch(epoch: number): Promise<void> {
    return this.writeEpoch('currentEpoch', epoch);
  }

  /** Keeps the newest `snapshotsToKeep` snapshots and the log segments the oldest of them needs. */
  async purge(): Promise<void> {
    await this.snapshotChain.catch(() => {});
    await this.purgeNow();
  }

  stats(): StorageStats {
    return {
      ...this.log.stats(),
      snapshotsWritten: this.snapshotsWritten,
      lastZxid: this.log.lastZxid,
      durableZxid: this.log.durableZxid,
      segments: this.log.segmentList().length,
    };
  }

  /** Waits for in-flight appends and snapshots, then releases the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.snapshotChain.catch(() => {});
    await Promise.all(Object.values(this.epochChains).map((p) => p.catch(() => {})));
    try {
      await this.log.close();
    } finally {
      openDirs.delete(resolve(this.dir));
    }
  }

  /** Writes of one epoch file run one after another: they share a temp file, and the last call wins. */
  private writeEpoch(name: EpochFileName, epoch: number): Promise<void> {
    const run = this.epochChains[name]
      .catch(() => {})
      .then(() => writeEpochFile(this.io, this.dir, name, epoch, this.fsync));
    this.epochChains[name] = run;
    return run;
  }

  private async purgeNow(): Promise<void> {
    const refs = await this.snapshots.list();
    // Only snapshots with an intact header and trailer count toward the N kept: otherwise a run
    // of damaged newest snapshots could get the last good one (and the log it needs) purged.
    const kept: SnapshotRef[] = [];
    let removed = false;
    for (const ref of refs) {
      if (kept.length < this.snapshotsToKeep && (await this.snapshots.trailerProblem(ref)) === undefined) {
        kept.push(ref);
        continue;
      }
      if (kept.length < this.snapshotsToKeep) {
        // Left in place (recovery skips it): deleting it could leave no snapshot file at all,
        // and recovery would then wrongly trust the purged log to start from an empty state.
        this.notes.push(`purge kept ${ref.path} without counting it: its header or trailer is damaged`);
        continue;
      }
      await this.snapshots.delete(ref);
      removed = true;
    }
    if (removed) await this.snapshots.syncDir();
    const oldest = kept[kept.length - 1];
    if (oldest) await this.log.deleteSegmentsUpTo(oldest.zxid);
  }
}
