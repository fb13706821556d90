import { join } from 'node:path';
import {
  BadArgumentsError,
  SystemError,
  ThrottledOpError,
  type TxnEntry,
  encodeFrame,
  formatZxid,
  zxidEpoch,
} from '@conclave/core';
import { StorageCorruptionError, LogWriteError } from './errors.js';
import {
  type StorageFs,
  fsyncDir,
  openDsync,
  unlinkIfExists,
  writeFully,
  writeFullySync,
} from './file-system.js';
import { Batch } from './group-commit.js';
import { RECORD_HEADER_BYTES } from './record-format.js';
import {
  SEGMENT_HEADER_BYTES,
  encodeSegmentHeader,
  parseSegmentFileName,
  scanSegment,
  scanSegmentTail,
  segmentFileName,
} from './segment.js';

export interface TxnLogOptions {
  dir: string;
  io: StorageFs;
  /** false skips every fsync: UNSAFE (an acknowledged append can be lost); tests only. */
  fsync: boolean;
  /** Preallocated size of a segment; a new segment starts when the next record would not fit. */
  segmentBytes: number;
  /** Appends allowed to wait for the next batch; one more is rejected with ThrottledOpError. */
  maxPendingAppends: number;
  /** Bytes allowed to wait for the next batch. */
  maxPendingBytes: number;
  /** Largest record payload accepted (and believed when reading). */
  maxRecordBytes: number;
  /**
   * Open segments with O_DSYNC (node:fs only, see openDsync) so a batch is one durable write
   * instead of write + fdatasync. Only with `fsync`; off when `io` is an injected file system,
   * whose fdatasync hooks must see every durability point.
   */
  dsync?: boolean;
}

/** Counters for benchmarks and the server's mntr. */
export interface LogStats {
  /** Appends acknowledged as durable. */
  appends: number;
  /** Batches written (one write per segment touched + one fdatasync each). */
  batches: number;
  /**
   * fdatasync/fsync calls made by the log (batches, segment creation and sealing, truncation); with
   * O_DSYNC segments each batch write counts as one (it is the batch's durability point).
   */
  fsyncs: number;
  bytesWritten: number;
  segmentsCreated: number;
  /** Largest number of appends one fdatasync covered. */
  maxBatchAppends: number;
  /** Appends currently waiting for the next batch. */
  pendingAppends: number;
}

/** A segment file on disk. */
export interface SegmentRef {
  firstZxid: bigint;
  path: string;
}

interface ActiveSegment {
  ref: SegmentRef;
  fd: number;
  /** Opened with O_DSYNC: a write returning means its bytes are durable (no fdatasync needed). */
  dsync: boolean;
  /** Bytes of the file known durable (header + records fdatasynced). */
  durableOffset: number;
}

/**
 * The transaction log: zxid-ordered TxnEntries in preallocated segment files, made durable by
 * group commit (see group-commit.ts). One instance owns its directory's log files.
 *
 * Appends must come in strictly increasing zxid order, contiguous within an epoch (ZAB never
 * skips a zxid); anything else is a caller bug and is rejected before touching the disk.
 */
export class TxnLog {
  /** What opening had to repair (a torn tail truncated, empty segments removed), for the server log. */
  readonly repairs: string[] = [];
  private readonly opts: TxnLogOptions;
  private segments: SegmentRef[] = [];
  private active: ActiveSegment | undefined;
  /** Next free offset of the logical tail segment, counting appends still pending. */
  private tailOffset = 0;
  /** The next append must start a new segment (no segment yet, or after a snapshot jump). */
  private needNewSegment = true;
  private last = 0n;
  private durable = 0n;
  private pending = new Batch();
  private spare: Batch | undefined = new Batch();
  private flushing = false;
  private scheduled = false;
  /** Moving average of how long a lone append's durable write took (ms); see writeBatch. */
  private loneWriteMs = 0;
  private idleWaiters: (() => void)[] = [];
  private failed: LogWriteError | undefined;
  private exclusive: string | undefined;
  private closed = false;
  private readonly counters: Omit<LogStats, 'pendingAppends'> = {
    appends: 0,
    batches: 0,
    fsyncs: 0,
    bytesWritten: 0,
    segmentsCreated: 0,
    maxBatchAppends: 0,
  };

  private constructor(opts: TxnLogOptions) {
    this.opts = opts;
  }

  /**
   * Opens the log in `dir`: finds the last segment holding a valid record, truncates a torn tail
   * there (zeros/partial/garbage after which nothing valid follows) and removes empty segments
   * after it. A bad record followed by a valid one is a StorageCorruptionError (file + offset).
   */
  static async open(opts: TxnLogOptions): Promise<TxnLog> {
    const log = new TxnLog(opts);
    await log.load();
    return log;
  }

  /** zxid of the last accepted append (possibly not yet durable), or the snapshot jumped to. */
  get lastZxid(): bigint {
    return this.last;
  }

  /** zxid of the last append known durable. */
  get durableZxid(): bigint {
    return this.durable;
  }

  /** First zxid of the oldest retained segment, or undefined when the log holds no segment. */
  get firstZxid(): bigint | undefined {
    return this.segments[0]?.firstZxid;
  }

  /** The segments on disk, oldest first. */
  segmentList(): readonly SegmentRef[] {
    return this.segments;
  }

  /** The failure that halted the log (it then refuses appends until reopened), if any. */
  get failure(): LogWriteError | undefined {
    return this.failed;
  }

  /** Whether no append has been accepted since open (recovery may still adjust lastZxid). */
  get untouched(): boolean {
    return this.counters.appends === 0 && this.pending.count === 0 && !this.flushing;
  }

  stats(): LogStats {
    return { ...this.counters, pendingAppends: this.pending.count };
  }

  /**
   * Appends one entry; resolves once it is durable (the fdatasync covering its batch returned).
   * Rejects with BadArgumentsError (order), ThrottledOpError (queue full) or LogWriteError (disk).
   */
  append(entry: TxnEntry): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.closed) return Promise.reject(new SystemError('the transaction log is closed'));
    if (this.exclusive) {
      return Promise.reject(new SystemError(`cannot append while the log is busy with ${this.exclusive}`));
    }
    const zxid = entry.zxid;
    if (zxid <= this.last) {
      return Promise.reject(
        new BadArgumentsError(
          `append of zxid ${formatZxid(zxid)} after ${formatZxid(this.last)}: zxids must increase`,
        ),
      );
    }
    if (zxidEpoch(zxid) === zxidEpoch(this.last) && zxid !== this.last + 1n) {
      return Promise.reject(
        new BadArgumentsError(
          `append of zxid ${formatZxid(zxid)} after ${formatZxid(this.last)} leaves a gap within the epoch`,
        ),
      );
    }
    let payload: Uint8Array;
    try {
      payload = encodeFrame(entry);
    } catch (err) {
      return Promise.reject(err);
    }
    if (payload.length > this.opts.maxRecordBytes) {
      return Promise.reject(
        new BadArgumentsError(
          `txn ${formatZxid(zxid)} encodes to ${payload.length} bytes, over the ${this.opts.maxRecordBytes}-byte record bound`,
        ),
      );
    }
    const recordBytes = RECORD_HEADER_BYTES + payload.length;
    const batch = this.pending;
    if (
      batch.count > 0 &&
      (batch.count >= this.opts.maxPendingAppends || batch.length + recordBytes > this.opts.maxPendingBytes)
    ) {
      return Promise.reject(
        new ThrottledOpError(
          `the log has ${batch.count} appends (${batch.length} bytes) waiting for the disk; retry after earlier appends complete`,
        ),
      );
    }
    let newSegment: { firstZxid: bigint; prevZxid: bigint } | undefined;
    const full =
      this.tailOffset + recordBytes > this.opts.segmentBytes && this.tailOffset > SEGMENT_HEADER_BYTES;
    if (this.needNewSegment || full) {
      newSegment = { firstZxid: zxid, prevZxid: this.last };
      this.tailOffset = SEGMENT_HEADER_BYTES;
      this.needNewSegment = false;
    }
    batch.add(payload, zxid, this.tailOffset, newSegment);
    this.tailOffset += recordBytes;
    this.last = zxid;
    this.schedule();
    return batch.done;
  }

  /** Resolves once nothing is pending or in flight (whether it succeeded or not). */
  whenIdle(): Promise<void> {
    if (!this.flushing && !this.scheduled && this.pending.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Continues the log after a snapshot at `zxid` beyond every logged entry (SNAP sync): the next
   * append must follow `zxid` and starts a new segment, so the older segments stay a consistent
   * prefix for older snapshots.
   */
  jumpTo(zxid: bigint): void {
    if (zxid <= this.last)
      throw new Error(`invariant: jumpTo(${formatZxid(zxid)}) not beyond ${formatZxid(this.last)}`);
    this.last = zxid;
    this.durable = zxid;
    this.needNewSegment = true;
  }

  /** Lowers lastZxid to `zxid` when recovery found the log ends earlier than a jump implied. */
  resetLastZxid(zxid: bigint): void {
    if (!this.untouched) throw new Error('invariant: resetLastZxid after appends');
    this.last = zxid;
    this.durable = zxid;
  }

  /**
   * Durably drops every entry with zxid > `zxid` (ZAB TRUNC), across segments. Later segments are
   * deleted newest first, then the cut segment's tail is zeroed: a crash part-way leaves a longer
   * but consistent log, never one with a hole.
   */
  async truncate(zxid: bigint): Promise<void> {
    this.assertWritable();
    this.exclusive = 'truncate';
    try {
      await this.whenIdle();
      if (this.failed) throw this.failed;
      if (zxid >= this.last) return; // nothing to drop
      const { io, fsync } = this.opts;
      while (this.segments.length > 0 && this.segments[this.segments.length - 1]!.firstZxid > zxid) {
        const ref = this.segments.pop()!;
        if (this.active?.ref === ref) await this.closeActive();
        await unlinkIfExists(io, ref.path);
        // One directory fsync per segment: unsynced unlinks may reach the disk in any order, and
        // an older segment gone before a newer one would leave a hole that recovery refuses.
        if (fsync) await this.countSync(fsyncDir(io, this.opts.dir));
      }
      const ref = this.segments[this.segments.length - 1];
      if (!ref) {
        this.needNewSegment = true;
        this.last = this.durable = 0n;
        return;
      }
      const bytes = await io.readFile(ref.path);
      let cut = -1;
      let kept = 0n;
      const scan = scanSegment(bytes, ref.firstZxid, this.opts.maxRecordBytes, (entry, offset) => {
        if (entry.zxid <= zxid) kept = entry.zxid;
        else if (cut < 0) cut = offset;
      });
      if (scan.damage) throw new StorageCorruptionError(ref.path, scan.damage.offset, scan.damage.reason);
      if (cut < 0) cut = scan.validEnd;
      if (this.active?.ref !== ref) {
        await this.closeActive();
        this.active = { ref, ...(await this.openSegment(ref.path, false)), durableOffset: cut };
      }
      await zeroFrom(io, this.active.fd, cut, Math.max(bytes.length, this.opts.segmentBytes));
      if (fsync) await this.countSync(io.fsync(this.active.fd));
      this.active.durableOffset = cut;
      this.tailOffset = cut;
      this.needNewSegment = false;
      this.last = this.durable = kept;
    } catch (err) {
      // Part of the log may be gone and the rest not yet cut: halt like a failed write; reopening
      // finds a consistent (possibly longer) log and the TRUNC can be retried.
      if (!this.failed) this.failed = new LogWriteError('truncating the transaction log failed', err);
      throw err instanceof StorageCorruptionError ? err : this.failed;
    } finally {
      this.exclusive = undefined;
    }
  }

  /**
   * Streams the durable entries with zxid > `zxid`, in order (for DIFF sync). Throws
   * BadArgumentsError when the log cannot prove it holds every entry after `zxid` (they were
   * purged into a snapshot, or skipped by a snapshot jump): sync that follower by SNAP instead.
   */
  async *readFrom(zxid: bigint): AsyncGenerator<TxnEntry> {
    const segments = [...this.segments];
    const activeRef = this.active?.ref;
    const activeEnd = this.active?.durableOffset ?? 0;
    const durable = this.durable;
    if (zxid >= durable) return;
    let index = 0;
    for (let i = 0; i < segments.length; i++) if (segments[i]!.firstZxid <= zxid + 1n) index = i;
    // `at`: how far the entries handed out (or skipped as ≤ zxid) reach. Each segment's header
    // says which zxid it continues from; reaching a segment that continues from beyond `at` means
    // entries in between are not in the log (purged, or covered by a snapshot jump).
    let at = zxid;
    let lastSeen: bigint | undefined;
    for (let i = index; i < segments.length && at < durable; i++) {
      const ref = segments[i]!;
      let bytes: Uint8Array;
      try {
        // The active segment is read only up to its durable end, not its preallocated zeros.
        bytes =
          ref === activeRef
            ? await readPrefix(this.opts.io, ref.path, activeEnd)
            : await this.opts.io.readFile(ref.path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        throw new BadArgumentsError(
          `${ref.path} was purged or truncated while being read; retry or sync by SNAP`,
        );
      }
      const found: TxnEntry[] = [];
      const scan = scanSegment(bytes, ref.firstZxid, this.opts.maxRecordBytes, (entry) => {
        if (entry.zxid > zxid && entry.zxid <= durable) found.push(entry);
      });
      if (scan.damage) throw new StorageCorruptionError(ref.path, scan.damage.offset, scan.damage.reason);
      if (scan.prevZxid === undefined) continue; // an empty segment being created right now
      if (lastSeen !== undefined && scan.prevZxid < lastSeen) {
        throw new StorageCorruptionError(
          ref.path,
          24,
          `the segment continues from ${formatZxid(scan.prevZxid)}, before the previous segment's last entry ${formatZxid(lastSeen)}`,
        );
      }
      if (scan.prevZxid > at) {
        throw new BadArgumentsError(
          `the log has no entries between ${formatZxid(at)} and ${formatZxid(scan.prevZxid)} (purged or covered by a snapshot); sync by SNAP`,
        );
      }
      for (const entry of found) {
        if (zxidEpoch(entry.zxid) === zxidEpoch(at) && entry.zxid !== at + 1n) {
          throw new BadArgumentsError(
            `${formatZxid(zxid)} is not a point of this log's history (the next entry is ${formatZxid(entry.zxid)}); use TRUNC or SNAP`,
          );
        }
        at = entry.zxid;
        yield entry;
      }
      if (scan.lastZxid !== undefined) {
        lastSeen = scan.lastZxid;
        if (scan.lastZxid > at) at = scan.lastZxid > durable ? durable : scan.lastZxid;
      }
    }
    if (at < durable) {
      // The history reaches `durable` through a snapshot jump (SNAP sync), not through the log.
      throw new BadArgumentsError(
        `the log ends at ${formatZxid(at)} but the history reaches ${formatZxid(durable)} through a snapshot; sync by SNAP`,
      );
    }
  }

  /**
   * Deletes the oldest segments whose entries are all ≤ `zxid` (covered by a snapshot), oldest
   * first so a crash part-way leaves a suffix of the log. Never deletes the newest segment.
   */
  async deleteSegmentsUpTo(zxid: bigint): Promise<number> {
    let deleted = 0;
    while (this.segments.length > 1 && this.segments[1]!.firstZxid <= zxid + 1n) {
      const ref = this.segments[0]!;
      if (this.active?.ref === ref) break;
      await unlinkIfExists(this.opts.io, ref.path);
      this.segments.shift();
      deleted++;
    }
    if (deleted > 0 && this.opts.fsync) await this.countSync(fsyncDir(this.opts.io, this.opts.dir));
    return deleted;
  }

  /** Waits for in-flight appends, then releases the files. Later appends reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.whenIdle();
    await this.closeActive();
  }

  private assertWritable(): void {
    if (this.failed) throw this.failed;
    if (this.closed) throw new SystemError('the transaction log is closed');
    if (this.exclusive) throw new SystemError(`the log is busy with ${this.exclusive}`);
  }

  private async load(): Promise<void> {
    const { io, dir, fsync, maxRecordBytes } = this.opts;
    await io.mkdir(dir);
    const names = await io.readdir(dir);
    for (const name of names) {
      const first = parseSegmentFileName(name);
      if (first !== undefined) this.segments.push({ firstZxid: first, path: join(dir, name) });
    }
    this.segments.sort((a, b) => (a.firstZxid < b.firstZxid ? -1 : a.firstZxid > b.firstZxid ? 1 : 0));
    let removed = false;
    while (this.segments.length > 0) {
      const ref = this.segments[this.segments.length - 1]!;
      const bytes = await io.readFile(ref.path);
      const scan = scanSegmentTail(bytes, ref.firstZxid, maxRecordBytes);
      if (scan.damage?.fatal) {
        throw new StorageCorruptionError(
          ref.path,
          scan.damage.offset,
          `${scan.damage.reason}, and ${scan.damage.fatal}`,
        );
      }
      if (scan.count === 0) {
        // Crashed while creating the segment or before its first batch was durable: nothing here
        // was ever acknowledged.
        await io.unlink(ref.path);
        this.segments.pop();
        this.repairs.push(`removed ${ref.path}: it holds no valid record`);
        removed = true;
        continue;
      }
      const { fd, dsync } = await this.openSegment(ref.path, false);
      if (scan.damage) {
        await zeroFrom(io, fd, scan.validEnd, Math.max(bytes.length, this.opts.segmentBytes));
        if (fsync) await this.countSync(io.fsync(fd));
        this.repairs.push(
          `truncated the torn tail of ${ref.path} at byte ${scan.validEnd}: ${scan.damage.reason}`,
        );
      }
      this.active = { ref, fd, dsync, durableOffset: scan.validEnd };
      this.tailOffset = scan.validEnd;
      this.needNewSegment = false;
      this.last = this.durable = scan.lastZxid!;
      break;
    }
    if (removed && fsync) await this.countSync(fsyncDir(io, dir));
  }

  private schedule(): void {
    if (this.flushing || this.scheduled) return;
    this.scheduled = true;
    // A microtask, not a timer: appends issued in the same tick join the first batch without
    // adding latency for a lone appender.
    queueMicrotask(() => {
      this.scheduled = false;
      void this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.pending.count > 0 && !this.failed) {
        const batch = this.pending;
        this.pending = this.spare ?? new Batch();
        this.spare = undefined;
        try {
          await this.writeBatch(batch);
        } catch (err) {
          this.fail(err, batch);
          break;
        }
        this.durable = batch.lastZxid;
        this.counters.appends += batch.count;
        this.counters.batches++;
        this.counters.bytesWritten += batch.length;
        if (batch.count > this.counters.maxBatchAppends) this.counters.maxBatchAppends = batch.count;
        batch.resolve();
        batch.reset();
        this.spare = batch;
      }
    } finally {
      this.flushing = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  private async writeBatch(batch: Batch): Promise<void> {
    const { io, fsync } = this.opts;
    let dirty = false;
    let end = 0;
    for (const piece of batch.pieces) {
      if (piece.newSegment !== undefined) {
        // Seal the previous segment before the next exists: a torn record can then only ever be
        // in the newest segment, which is what lets recovery call anything else corruption.
        if (dirty && fsync && this.active && !this.active.dsync)
          await this.countSync(io.fdatasync(this.active.fd));
        if (dirty && this.active) this.active.durableOffset = end;
        dirty = false;
        await this.closeActive();
        await this.createSegment(piece.newSegment.firstZxid, piece.newSegment.prevZxid);
      }
      const active = this.active;
      if (!active) throw new Error('invariant: a batch piece without a segment to write to');
      const length = piece.end - piece.start;
      if (active.dsync && batch.count === 1) {
        // A lone append (one request outstanding, nothing to batch with): on a disk that answers
        // fast, write it synchronously. The event loop has nothing else to do meanwhile, and it
        // saves the thread-pool round trip (a wake-up of a pool thread and one of the loop: about
        // a third of the server's CPU per write at one outstanding request, and latency). A disk
        // that turns slow (a moving average over LONE_SYNC_WRITE_MAX_MS) gets the asynchronous
        // write again, so a stalling disk never stalls the loop for more than about one write.
        const t0 = performance.now();
        if (this.loneWriteMs < LONE_SYNC_WRITE_MAX_MS) {
          writeFullySync(active.fd, batch.buffer, piece.fileOffset, piece.start, length);
        } else {
          await writeFully(io, active.fd, batch.buffer, piece.fileOffset, piece.start, length);
        }
        this.loneWriteMs += (performance.now() - t0 - this.loneWriteMs) / 4;
      } else {
        await writeFully(io, active.fd, batch.buffer, piece.fileOffset, piece.start, length);
      }
      // O_DSYNC: the write that just returned was the durability point.
      if (active.dsync) this.counters.fsyncs++;
      end = piece.fileOffset + (piece.end - piece.start);
      dirty = true;
    }
    if (dirty && fsync && this.active && !this.active.dsync)
      await this.countSync(io.fdatasync(this.active.fd));
    if (dirty && this.active) this.active.durableOffset = end;
  }

  private async createSegment(firstZxid: bigint, prevZxid: bigint): Promise<void> {
    const { io, dir, fsync, segmentBytes } = this.opts;
    const ref = { firstZxid, path: join(dir, segmentFileName(firstZxid)) };
    const { fd, dsync } = await this.openSegment(ref.path, true);
    this.segments.push(ref);
    this.active = { ref, fd, dsync, durableOffset: 0 };
    await writeFully(io, fd, encodeSegmentHeader(firstZxid, prevZxid), 0);
    // Full size up front: the file's size never changes while records are appended, and the
    // unwritten rest reads as zeros (the end marker recovery expects). The file is sparse, so a
    // first write into a block still allocates it (see README: zero-filling measured no faster).
    await io.ftruncate(fd, segmentBytes);
    if (fsync) {
      await this.countSync(io.fsync(fd));
      await this.countSync(fsyncDir(io, dir));
    }
    this.active.durableOffset = SEGMENT_HEADER_BYTES;
    this.counters.segmentsCreated++;
  }

  /** Opens a segment for appending ('wx+' when `create`, else 'r+'), with O_DSYNC when configured. */
  private async openSegment(path: string, create: boolean): Promise<{ fd: number; dsync: boolean }> {
    const { io, fsync, dsync } = this.opts;
    if (fsync && dsync === true) return { fd: await openDsync(path, create), dsync: true };
    return { fd: await io.open(path, create ? 'wx+' : 'r+'), dsync: false };
  }

  private async closeActive(): Promise<void> {
    const active = this.active;
    this.active = undefined;
    if (active) await this.opts.io.close(active.fd);
  }

  private fail(err: unknown, batch: Batch): void {
    this.failed = new LogWriteError('a transaction log write could not be made durable', err);
    batch.reject(this.failed);
    batch.reset();
    this.pending.reject(this.failed);
    this.pending.reset();
  }

  private async countSync(p: Promise<void>): Promise<void> {
    await p;
    this.counters.fsyncs++;
  }
}

/**
 * Lone appends are written synchronously while their durable writes take less than this on
 * average (ms): a write-back-cached or NVMe disk (tens to hundreds of µs) qualifies, a disk whose
 * flushes take milliseconds does not.
 */
const LONE_SYNC_WRITE_MAX_MS = 1;

/** The first `length` bytes of a file. */
async function readPrefix(io: StorageFs, path: string, length: number): Promise<Uint8Array> {
  const fd = await io.open(path, 'r');
  try {
    const bytes = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = await io.read(fd, bytes, done, length - done, done);
      if (n <= 0) return bytes.subarray(0, done);
      done += n;
    }
    return bytes;
  } finally {
    await io.close(fd);
  }
}

/** Zeroes a file from `offset` to `size` by shrinking it to `offset` and growing it back. */
async function zeroFrom(io: StorageFs, fd: number, offset: number, size: number): Promise<void> {
  await io.ftruncate(fd, offset);
  await io.ftruncate(fd, size);
}
