import { type DecodeLimits, Limits, type TxnEntry, decodeFrame, encodeFrame } from '@conclave/core';
import { crc32c } from './crc32c.js';

/**
 * One log record: `[u32 length LE][u32 crc32c LE of the payload][payload]`, the payload being the
 * TxnEntry as one CBOR frame (core's encodeFrame). A length of 0 cannot be a record (an entry is
 * never empty), so it marks the end of the written part of a zero-preallocated segment.
 */
export const RECORD_HEADER_BYTES = 8;

/**
 * Default bound on one record's payload. A txn is bounded by the request that produced it (a frame
 * of at most Limits.maxFrameBytes), but a multi or closeSession can carry more than its request;
 * 32 MiB leaves room while keeping a corrupt length from making recovery allocate without bound.
 */
export const DEFAULT_MAX_RECORD_BYTES = 32 * 1024 * 1024;

export function recordDecodeLimits(maxRecordBytes: number): DecodeLimits {
  return { maxBytes: maxRecordBytes, maxDepth: 32, maxElements: Limits.maxDecodeElements };
}

/** Writes the record for `payload` into `target` at `at`; returns the offset just past it. */
export function putRecord(target: Uint8Array, at: number, payload: Uint8Array): number {
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  view.setUint32(at, payload.length, true);
  view.setUint32(at + 4, crc32c(payload), true);
  target.set(payload, at + RECORD_HEADER_BYTES);
  return at + RECORD_HEADER_BYTES + payload.length;
}

/** Encodes a whole record (header + payload) as its own buffer. */
export function encodeRecord(entry: TxnEntry): Uint8Array {
  const payload = encodeFrame(entry);
  const out = new Uint8Array(RECORD_HEADER_BYTES + payload.length);
  putRecord(out, 0, payload);
  return out;
}

/** What was found at one offset of a segment. */
export type RecordRead =
  | { kind: 'entry'; entry: TxnEntry; next: number }
  /** The CRC matches; the payload was not decoded (`decode: false`). */
  | { kind: 'checked'; next: number }
  /** A zero length: the written part of the segment may end here. */
  | { kind: 'end' }
  /** Not a record: what a torn write or damage looks like (CRC mismatch, runs past the end, ...). */
  | { kind: 'torn'; reason: string }
  /** The CRC matches but the payload is not a TxnEntry: written wrong, never a torn write. */
  | { kind: 'invalid'; reason: string };

/** Reads the record at `offset` of `bytes[0, end)`; with `decode` false, checks only its CRC. */
export function readRecord(
  bytes: Uint8Array,
  offset: number,
  end: number,
  maxRecordBytes: number,
  decode = true,
): RecordRead {
  if (end - offset < RECORD_HEADER_BYTES) {
    for (let i = offset; i < end; i++) {
      if (bytes[i] !== 0) return { kind: 'torn', reason: 'a partial record header' };
    }
    return { kind: 'end' };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(offset, true);
  if (length === 0) return { kind: 'end' };
  if (length > maxRecordBytes) {
    return {
      kind: 'torn',
      reason: `a record length of ${length} bytes exceeds the ${maxRecordBytes}-byte bound`,
    };
  }
  const start = offset + RECORD_HEADER_BYTES;
  if (length > end - start) {
    return { kind: 'torn', reason: `a record of ${length} bytes runs past the end of the file` };
  }
  const stored = view.getUint32(offset + 4, true);
  const actual = crc32c(bytes, 0, start, start + length);
  if (stored !== actual) {
    return {
      kind: 'torn',
      reason: `record CRC mismatch (stored ${hex32(stored)}, computed ${hex32(actual)})`,
    };
  }
  if (!decode) return { kind: 'checked', next: start + length };
  let value: unknown;
  try {
    value = decodeFrame(bytes.subarray(start, start + length), recordDecodeLimits(maxRecordBytes));
  } catch (err) {
    return {
      kind: 'invalid',
      reason: `the record's CRC matches but it does not decode: ${(err as Error).message}`,
    };
  }
  const problem = entryShapeProblem(value);
  if (problem) return { kind: 'invalid', reason: `the record's CRC matches but ${problem}` };
  return { kind: 'entry', entry: value as TxnEntry, next: start + length };
}

/** Checks the fields recovery and replay rely on; the txn body is the datatree's to judge. */
function entryShapeProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'it is not a TxnEntry map';
  const e = value as Record<string, unknown>;
  if (typeof e.zxid !== 'bigint' || e.zxid < 0n) return 'its zxid is not a non-negative bigint';
  if (typeof e.sessionId !== 'bigint') return 'its sessionId is not a bigint';
  if (typeof e.cxid !== 'number' || typeof e.time !== 'number') return 'its cxid or time is not a number';
  const txn = e.txn as Record<string, unknown> | undefined;
  if (typeof txn !== 'object' || txn === null || typeof txn.type !== 'string') return 'its txn has no type';
  return undefined;
}

/**
 * Where the first valid record that continues the history starts in `bytes(from, end)`, or -1.
 * Used after a bad record to tell a torn tail (nothing valid follows: truncate) from damage in the
 * middle (fatal). "Continues" means its zxid is beyond `after`, the last valid zxid before the bad
 * record: a txn's payload is client data (setData) and can hold bytes that form a valid record,
 * e.g. a copy of an older log; when a crash tears the log inside such a payload, those bytes must
 * not turn an ordinary torn tail into a refusal to start. No bound on the epoch: a member's log
 * can skip epochs (one that committed nothing), and taking real damage before such a record for a
 * torn tail would silently drop acknowledged txns. A byte-by-byte search, but cheap in practice:
 * zero runs and implausible lengths are skipped before any CRC.
 */
export function validRecordAfter(
  bytes: Uint8Array,
  from: number,
  end: number,
  maxRecordBytes: number,
  after: bigint,
): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = from + 1; at + RECORD_HEADER_BYTES < end; at++) {
    if (bytes[at] === 0 && bytes[at + 1] === 0 && bytes[at + 2] === 0 && bytes[at + 3] === 0) continue;
    const length = view.getUint32(at, true);
    if (length === 0 || length > maxRecordBytes || length > end - at - RECORD_HEADER_BYTES) continue;
    // Every entry is a CBOR map: a cheap filter before the CRC.
    if ((bytes[at + RECORD_HEADER_BYTES]! & 0xe0) !== 0xa0) continue;
    const read = readRecord(bytes, at, end, maxRecordBytes);
    if (read.kind !== 'entry') continue;
    if (read.entry.zxid > after) return at;
  }
  return -1;
}

export function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
