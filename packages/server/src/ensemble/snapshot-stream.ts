import type { TxnEntry } from '@conclave/core';
import { crc32c } from '../log/crc32c.js';
import type { ZabMessage } from '../zab/index.js';
import type { QuorumMessage, SnapChunk, SnapTrailer } from './messages.js';

type SnapMessage = Extract<ZabMessage<TxnEntry>, { type: 'snap' }>;

/** Default largest piece of a snapshot per frame. */
export const DEFAULT_SNAP_CHUNK_BYTES = 1024 * 1024;
/** Default largest snapshot a learner reassembles. */
export const DEFAULT_MAX_SNAPSHOT_BYTES = 4 * 1024 * 1024 * 1024;

/**
 * The frames of one SNAP: the database image cut into `snap-chunk` frames of at most `chunkBytes`
 * each, then the ZAB `snap` message itself, whose `snapshot` is a {@link SnapTrailer} (frame count,
 * byte count, CRC-32C of every byte) instead of the data.
 *
 * Lazy on purpose: `image` is a Database.serialize() iterator (its image captured when serialize()
 * was called, at exactly `snap.zxid`), so each snapshot chunk is encoded only when the transport
 * is ready to send it; the leader never holds the whole encoded snapshot, nor blocks its event
 * loop encoding it. The `snap` message comes last so the learner's node sees the SNAP at its place
 * in the leader's FIFO stream, with the snapshot complete.
 */
export function* snapshotFrames(
  image: Iterable<Uint8Array>,
  snap: SnapMessage,
  stream: number,
  chunkBytes: number,
): Generator<QuorumMessage> {
  if (!(chunkBytes >= 1)) throw new Error(`invariant: snapshot chunk size ${chunkBytes}`);
  let index = 0;
  let bytes = 0;
  let crc = 0;
  for (const chunk of image) {
    // One snapshot chunk may span several frames; `last` marks where it ends so the learner can
    // hand Database.restore the chunks it was serialized as.
    for (let off = 0; off < chunk.length || off === 0; off += chunkBytes) {
      const end = Math.min(chunk.length, off + chunkBytes);
      const data = chunk.subarray(off, end);
      crc = crc32c(data, crc);
      bytes += data.length;
      yield { kind: 'snap-chunk', stream, index: index++, data, last: end === chunk.length };
      if (end === chunk.length) break;
    }
  }
  const trailer: SnapTrailer = { stream, frames: index, bytes, crc32c: crc };
  yield { kind: 'zab', msg: { ...snap, snapshot: trailer } };
}

/** Why an incoming SNAP stream was rejected (the learner starts over, as after a broken connection). */
export class SnapStreamError extends Error {}

interface Assembly {
  stream: number;
  next: number;
  bytes: number;
  crc: number;
  chunks: Uint8Array[];
  /** Frames of the snapshot chunk being reassembled. */
  parts: Uint8Array[];
}

/**
 * A learner's side of SNAP streams: one assembly per peer (only a leader sends them, and one at a
 * time on its FIFO connection), bounded by `maxBytes`, checked against the trailer's frame count,
 * byte count and CRC-32C before the snapshot is handed to the ZAB node.
 */
export class SnapshotAssembler {
  private readonly byPeer = new Map<number, Assembly>();

  constructor(private readonly maxBytes: number) {}

  /** Adds one frame. Throws {@link SnapStreamError} (and forgets the stream) when it does not fit. */
  chunk(from: number, c: SnapChunk): void {
    let a = this.byPeer.get(from);
    if (c.index === 0) {
      // A new stream replaces whatever an earlier, abandoned one left behind.
      a = { stream: c.stream, next: 0, bytes: 0, crc: 0, chunks: [], parts: [] };
      this.byPeer.set(from, a);
    }
    if (a === undefined || a.stream !== c.stream || a.next !== c.index) {
      this.byPeer.delete(from);
      throw new SnapStreamError(
        `snapshot frame ${c.index} of stream ${c.stream} out of order (expected ${a?.next ?? 0} of ${a?.stream ?? 'none'})`,
      );
    }
    if (!(c.data instanceof Uint8Array)) {
      this.byPeer.delete(from);
      throw new SnapStreamError('snapshot frame without bytes');
    }
    a.bytes += c.data.length;
    if (a.bytes > this.maxBytes) {
      this.byPeer.delete(from);
      throw new SnapStreamError(
        `snapshot larger than quorum.maxSnapshotBytes (${this.maxBytes}); raise it in the ensemble file`,
      );
    }
    a.next++;
    a.crc = crc32c(c.data, a.crc);
    a.parts.push(c.data);
    if (c.last) {
      a.chunks.push(a.parts.length === 1 ? a.parts[0]! : Buffer.concat(a.parts));
      a.parts = [];
    }
  }

  /**
   * The snapshot the trailer describes, verified: its chunks, as Database.serialize() produced
   * them. Throws {@link SnapStreamError} when frames are missing or the bytes differ.
   */
  finish(from: number, trailer: unknown): Uint8Array[] {
    const a = this.byPeer.get(from);
    this.byPeer.delete(from);
    if (!isTrailer(trailer)) throw new SnapStreamError('SNAP without a stream trailer');
    if (a === undefined || a.stream !== trailer.stream) {
      throw new SnapStreamError(`SNAP trailer for stream ${trailer.stream}, which was not received`);
    }
    if (a.next !== trailer.frames || a.bytes !== trailer.bytes || a.parts.length > 0) {
      throw new SnapStreamError(
        `SNAP stream incomplete: ${a.next}/${trailer.frames} frames, ${a.bytes}/${trailer.bytes} bytes`,
      );
    }
    if (a.crc !== trailer.crc32c) {
      throw new SnapStreamError(`SNAP stream corrupt: CRC-32C ${a.crc} ≠ ${trailer.crc32c}`);
    }
    return a.chunks;
  }

  /** The connection with `peer` broke: its partial stream can never complete. */
  drop(peer: number): void {
    this.byPeer.delete(peer);
  }
}

function isTrailer(t: unknown): t is SnapTrailer {
  if (typeof t !== 'object' || t === null) return false;
  const r = t as Record<string, unknown>;
  return (
    Number.isSafeInteger(r.stream) &&
    Number.isSafeInteger(r.frames) &&
    Number.isSafeInteger(r.bytes) &&
    Number.isSafeInteger(r.crc32c)
  );
}
