import { RECORD_HEADER_BYTES, putRecord } from './record-format.js';

/**
 * Group commit: the unit of durability is a batch, not an append.
 *
 * While one batch is being written and fdatasynced, new appends accumulate in the next batch (a
 * staging buffer, records laid out exactly as they go on disk). When the in-flight fdatasync
 * returns, every append of that batch resolves at once and the accumulated batch goes out as one
 * write + one fdatasync. At C concurrent appenders a batch holds ~C records, so the fsync cost is
 * shared by C appends; with one appender a batch is one record and latency is one fsync.
 *
 * All appends of a batch share one promise: an append resolves exactly when the fdatasync that
 * covers it returns, and no append is ever acknowledged before its bytes are durable.
 */
export interface BatchPiece {
  /** Set when this piece starts a new segment: its first zxid and the zxid it continues from. */
  newSegment: { firstZxid: bigint; prevZxid: bigint } | undefined;
  /** Position in the target segment file where the piece is written. */
  fileOffset: number;
  /** Byte range of the piece in the batch buffer. */
  start: number;
  end: number;
}

export class Batch {
  buffer: Uint8Array;
  length = 0;
  count = 0;
  lastZxid = 0n;
  pieces: BatchPiece[] = [];
  private promise: Promise<void> | undefined;
  private resolveFn: (() => void) | undefined;
  private rejectFn: ((err: unknown) => void) | undefined;

  constructor(initialBytes = 64 * 1024) {
    this.buffer = new Uint8Array(initialBytes);
  }

  /** The promise every append of this batch returns (created on first use). */
  get done(): Promise<void> {
    if (!this.promise) {
      this.promise = new Promise<void>((resolve, reject) => {
        this.resolveFn = resolve;
        this.rejectFn = reject;
      });
      // Appenders await this promise; marking it handled keeps a failed batch whose callers
      // dropped their promise from crashing the process with an unhandled rejection.
      this.promise.catch(() => {});
    }
    return this.promise;
  }

  /** Copies one record into the staging buffer, continuing the current piece or starting one. */
  add(
    payload: Uint8Array,
    zxid: bigint,
    fileOffset: number,
    newSegment: { firstZxid: bigint; prevZxid: bigint } | undefined,
  ): void {
    const recordBytes = RECORD_HEADER_BYTES + payload.length;
    if (this.length + recordBytes > this.buffer.length) {
      let size = this.buffer.length * 2;
      while (size < this.length + recordBytes) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.buffer.subarray(0, this.length));
      this.buffer = grown;
    }
    const last = this.pieces[this.pieces.length - 1];
    if (newSegment !== undefined || last === undefined) {
      this.pieces.push({ newSegment, fileOffset, start: this.length, end: this.length });
    }
    this.length = putRecord(this.buffer, this.length, payload);
    this.pieces[this.pieces.length - 1]!.end = this.length;
    this.count++;
    this.lastZxid = zxid;
  }

  resolve(): void {
    this.resolveFn?.();
  }

  reject(err: unknown): void {
    this.rejectFn?.(err);
  }

  /** Empties the batch for reuse, keeping its (possibly grown) buffer. */
  reset(): void {
    this.length = 0;
    this.count = 0;
    this.lastZxid = 0n;
    this.pieces = [];
    this.promise = undefined;
    this.resolveFn = undefined;
    this.rejectFn = undefined;
  }
}
