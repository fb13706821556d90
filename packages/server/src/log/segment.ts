import type { TxnEntry } from '@conclave/core';
import { crc32c } from './crc32c.js';
import { readRecord, validRecordAfter } from './record-format.js';

/**
 * A log segment is one file `log.<first zxid in hex>` (ZooKeeper's naming): a 40-byte header, then
 * records back to back, then zeros up to the preallocated size.
 *
 * Header: `"CNCLTLOG"` (8) | version u32 | reserved u32 | first zxid u64 | prev zxid u64 |
 * crc32c of bytes [0, 32) u32 | reserved u32 — all little-endian.
 *
 * `prev zxid` is the zxid the history had reached when the segment was started: the last entry of
 * the previous segment, or the snapshot the log continues after (SNAP sync), or 0 for the very
 * first segment. It chains the segments, so a missing segment or a snapshot jump is visible even
 * across an epoch change, where zxid counters cannot show a hole.
 */
export const SEGMENT_HEADER_BYTES = 40;
export const SEGMENT_VERSION = 1;
const MAGIC = new TextEncoder().encode('CNCLTLOG');
const NAME = /^log\.([0-9a-f]{1,16})$/;

export function segmentFileName(firstZxid: bigint): string {
  return `log.${firstZxid.toString(16)}`;
}

/** The first zxid a segment file name declares, or undefined for a file that is not a segment. */
export function parseSegmentFileName(name: string): bigint | undefined {
  const match = NAME.exec(name);
  return match ? BigInt(`0x${match[1]}`) : undefined;
}

export function encodeSegmentHeader(firstZxid: bigint, prevZxid: bigint): Uint8Array {
  if (prevZxid >= firstZxid)
    throw new Error('invariant: a segment must start after the zxid it continues from');
  const header = new Uint8Array(SEGMENT_HEADER_BYTES);
  const view = new DataView(header.buffer);
  header.set(MAGIC, 0);
  view.setUint32(8, SEGMENT_VERSION, true);
  view.setBigUint64(16, firstZxid, true);
  view.setBigUint64(24, prevZxid, true);
  view.setUint32(32, crc32c(header, 0, 0, 32), true);
  return header;
}

/** Why a segment header is unusable, or undefined when it is valid and names `firstZxid`. */
export function segmentHeaderProblem(bytes: Uint8Array, firstZxid: bigint): string | undefined {
  if (bytes.length < SEGMENT_HEADER_BYTES) return 'the segment header is incomplete';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(32, true) !== crc32c(bytes, 0, 0, 32)) return 'the segment header CRC does not match';
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) return 'the file does not start with the segment magic';
  }
  const version = view.getUint32(8, true);
  if (version !== SEGMENT_VERSION) return `unsupported segment version ${version}`;
  const declared = view.getBigUint64(16, true);
  if (declared !== firstZxid) {
    return `the header declares first zxid 0x${declared.toString(16)} but the file name says 0x${firstZxid.toString(16)}`;
  }
  if (view.getBigUint64(24, true) >= firstZxid)
    return 'the header says the segment continues from a zxid not before it';
  return undefined;
}

/** The zxid a segment continues from, or undefined when its header is unusable. */
export function segmentPrevZxid(bytes: Uint8Array, firstZxid: bigint): bigint | undefined {
  if (segmentHeaderProblem(bytes, firstZxid)) return undefined;
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(24, true);
}

const FOLLOWED = 'valid records follow it (damage in the middle of the log, not a torn tail)';
const NOT_TORN = 'its CRC matches, so it is not a torn write';

/** Where and why a segment scan stopped before a clean end. */
export interface SegmentDamage {
  offset: number;
  reason: string;
  /**
   * Why this cannot be a torn tail, or undefined when it can. A torn write can only be followed by
   * zeros or garbage, so a bad record followed by a valid one is damage in the middle of the log;
   * and a record whose CRC matches but whose content is wrong was written wrong, not torn.
   */
  fatal: string | undefined;
}

export interface SegmentScan {
  /** The zxid the segment continues from (header), or undefined when the header is unusable. */
  prevZxid: bigint | undefined;
  /** Records found before the end or the damage. */
  count: number;
  /** zxid of the last valid record, if any. */
  lastZxid: bigint | undefined;
  /** Offset just past the last valid record: where the next append goes. */
  validEnd: number;
  /** Undefined when the segment ended cleanly (at EOF, or a zero length followed only by zeros). */
  damage: SegmentDamage | undefined;
}

/**
 * Scans one segment's bytes, calling `onEntry` for each valid record in order. Checks the header,
 * each record's CRC and that zxids start at the declared first zxid and strictly increase.
 */
export function scanSegment(
  bytes: Uint8Array,
  firstZxid: bigint,
  maxRecordBytes: number,
  onEntry?: (entry: TxnEntry, offset: number) => void,
): SegmentScan {
  return scanRecords(bytes, firstZxid, maxRecordBytes, true, onEntry).scan;
}

/**
 * Finds where a segment's valid records end, checking CRCs only and decoding just the last
 * record (for its zxid): opening the log needs the tail, not every entry, and recovery decodes
 * and checks every entry it replays anyway.
 */
export function scanSegmentTail(bytes: Uint8Array, firstZxid: bigint, maxRecordBytes: number): SegmentScan {
  const { scan: result, lastOffset } = scanRecords(bytes, firstZxid, maxRecordBytes, false);
  if (lastOffset === undefined) return result;
  const last = readRecord(bytes, lastOffset, bytes.length, maxRecordBytes);
  if (last.kind === 'entry') return { ...result, lastZxid: last.entry.zxid };
  const reason =
    last.kind === 'invalid' || last.kind === 'torn' ? last.reason : 'the last record does not decode';
  return {
    ...result,
    count: result.count - 1,
    validEnd: lastOffset,
    damage: { offset: lastOffset, reason, fatal: NOT_TORN },
  };
}

function scanRecords(
  bytes: Uint8Array,
  firstZxid: bigint,
  maxRecordBytes: number,
  decode: boolean,
  onEntry?: (entry: TxnEntry, offset: number) => void,
): { scan: SegmentScan; lastOffset: number | undefined } {
  let lastOffset: number | undefined;
  let lastZxid: bigint | undefined;
  const done = (scan: SegmentScan) => ({ scan, lastOffset });
  const end = bytes.length;
  // The zxid the history reached before a bad record: a valid record after it makes the damage
  // fatal only if it continues from there (see validRecordAfter).
  const reached = (): bigint => {
    if (lastZxid !== undefined) return lastZxid;
    if (lastOffset !== undefined) {
      const last = readRecord(bytes, lastOffset, end, maxRecordBytes);
      if (last.kind === 'entry') return last.entry.zxid;
    }
    return firstZxid > 0n ? firstZxid - 1n : 0n;
  };
  const followed = (from: number): string | undefined =>
    validRecordAfter(bytes, from, end, maxRecordBytes, reached()) >= 0 ? FOLLOWED : undefined;
  const headerProblem = segmentHeaderProblem(bytes, firstZxid);
  if (headerProblem) {
    const allZero = isZero(bytes, 0, end);
    if (allZero)
      return done({ prevZxid: undefined, count: 0, lastZxid: undefined, validEnd: 0, damage: undefined });
    return done({
      prevZxid: undefined,
      count: 0,
      lastZxid: undefined,
      validEnd: 0,
      damage: {
        offset: 0,
        reason: headerProblem,
        fatal: followed(SEGMENT_HEADER_BYTES - 1),
      },
    });
  }
  const prevZxid = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(24, true);
  let offset = SEGMENT_HEADER_BYTES;
  let count = 0;
  for (;;) {
    if (offset >= end) return done({ prevZxid, count, lastZxid, validEnd: offset, damage: undefined });
    const read = readRecord(bytes, offset, end, maxRecordBytes, decode);
    if (read.kind === 'checked') {
      lastOffset = offset;
      count++;
      offset = read.next;
      continue;
    }
    if (read.kind === 'entry') {
      const zxid = read.entry.zxid;
      const expectedFirst = count === 0 && zxid !== firstZxid;
      if (expectedFirst || (lastZxid !== undefined && zxid <= lastZxid)) {
        const reason = expectedFirst
          ? `the first record has zxid 0x${zxid.toString(16)}, not the 0x${firstZxid.toString(16)} the file name declares`
          : `zxid 0x${zxid.toString(16)} does not follow 0x${lastZxid!.toString(16)}`;
        return done({
          prevZxid,
          count,
          lastZxid,
          validEnd: offset,
          damage: { offset, reason, fatal: NOT_TORN },
        });
      }
      onEntry?.(read.entry, offset);
      lastOffset = offset;
      count++;
      lastZxid = zxid;
      offset = read.next;
      continue;
    }
    if (read.kind === 'end') {
      if (isZero(bytes, offset, end))
        return done({ prevZxid, count, lastZxid, validEnd: offset, damage: undefined });
      return done({
        prevZxid,
        count,
        lastZxid,
        validEnd: offset,
        damage: {
          offset,
          reason: 'a zero record length followed by non-zero bytes',
          fatal: followed(offset),
        },
      });
    }
    const fatal = read.kind === 'invalid' ? NOT_TORN : followed(offset);
    return done({
      prevZxid,
      count,
      lastZxid,
      validEnd: offset,
      damage: { offset, reason: read.reason, fatal },
    });
  }
}

const ZEROS = Buffer.alloc(64 * 1024);

/** Whether `bytes[from, to)` is all zeros; native compares, as a preallocated segment is mostly zeros. */
function isZero(bytes: Uint8Array, from: number, to: number): boolean {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = from; at < to; at += ZEROS.length) {
    const end = Math.min(to, at + ZEROS.length);
    if (buf.compare(ZEROS, 0, end - at, at, end) !== 0) return false;
  }
  return true;
}
