import { describe, expect, it } from 'vitest';
import { crc32c } from '../../src/log/index.js';
import { encodeRecord, putRecord, readRecord, validRecordAfter } from '../../src/log/record-format.js';
import {
  encodeSegmentHeader,
  scanSegment,
  scanSegmentTail,
  segmentHeaderProblem,
} from '../../src/log/segment.js';
import { entry, z } from './helpers.js';

describe('crc32c', () => {
  it('matches the Castagnoli check value and composes incrementally', () => {
    const bytes = new TextEncoder().encode('123456789');
    expect(crc32c(bytes)).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
    const big = new Uint8Array(1000).map((_, i) => (i * 31) & 0xff);
    expect(crc32c(big.subarray(300), crc32c(big.subarray(0, 300)))).toBe(crc32c(big));
    expect(crc32c(big, 0, 5, 17)).toBe(crc32c(big.subarray(5, 17)));
  });
});

describe('record and segment format', () => {
  it('round-trips a record and classifies damage', () => {
    const record = encodeRecord(entry(z(5)));
    const ok = readRecord(record, 0, record.length, 1 << 20);
    expect(ok.kind).toBe('entry');
    expect(ok.kind === 'entry' && ok.entry.zxid).toBe(z(5));
    expect(readRecord(new Uint8Array(16), 0, 16, 1 << 20).kind).toBe('end');
    expect(readRecord(record, 0, record.length - 1, 1 << 20).kind).toBe('torn');
    const flipped = record.slice();
    flipped[20]! ^= 1;
    expect(readRecord(flipped, 0, flipped.length, 1 << 20).kind).toBe('torn');
  });

  it('finds a valid record after damage only where one really starts', () => {
    const a = encodeRecord(entry(z(1)));
    const b = encodeRecord(entry(z(2)));
    const bytes = new Uint8Array(a.length + b.length + 64);
    bytes.set(a, 0);
    bytes.set(b, a.length);
    bytes[10]! ^= 0xff; // damage record a
    expect(validRecordAfter(bytes, 0, bytes.length, 1 << 20, 0n)).toBe(a.length);
    expect(validRecordAfter(bytes, a.length, bytes.length, 1 << 20, 0n)).toBe(-1);
  });

  it('counts a valid record after damage only if its zxid continues the history', () => {
    const damaged = new Uint8Array(16).fill(0xee);
    const at = (zxid: bigint, after: bigint) => {
      const record = encodeRecord(entry(zxid));
      const bytes = new Uint8Array(damaged.length + record.length + 16);
      bytes.set(damaged, 0);
      bytes.set(record, damaged.length);
      return validRecordAfter(bytes, 0, bytes.length, 1 << 20, after);
    };
    expect(at(z(6), z(5))).toBe(16); // the next txn
    expect(at(z(9), z(5))).toBe(16); // later in the epoch: the txns in between were damaged
    expect(at(z(1, 2), z(5))).toBe(16); // the next epoch
    expect(at(z(1, 4), z(5))).toBe(16); // a later one (epochs that committed nothing are skipped)
    expect(at(z(5), z(5))).toBe(-1); // not beyond the history: a copy inside a payload
    expect(at(z(3), z(5))).toBe(-1);
    expect(at(z(9, 0), z(1, 1))).toBe(-1); // an older epoch
  });

  it('checks the segment header against the file name', () => {
    const header = encodeSegmentHeader(z(7), z(6));
    expect(segmentHeaderProblem(header, z(7))).toBeUndefined();
    expect(segmentHeaderProblem(header, z(8))).toMatch(/file name/);
    const bad = header.slice();
    bad[0] = 0;
    expect(segmentHeaderProblem(bad, z(7))).toMatch(/CRC/);
    const records = [z(7), z(8)].map((zx) => encodeRecord(entry(zx)));
    const file = new Uint8Array(4096);
    file.set(header, 0);
    file.set(records[0]!, header.length);
    file.set(records[1]!, header.length + records[0]!.length);
    const scan = scanSegment(file, z(7), 1 << 20);
    expect(scan).toMatchObject({ count: 2, lastZxid: z(8), damage: undefined });
  });
  it('the tail scan agrees with the full scan, and refuses a last record that has a CRC but no entry', () => {
    const header = encodeSegmentHeader(z(1), 0n);
    const file = new Uint8Array(8192);
    file.set(header, 0);
    let at = header.length;
    for (let c = 1; c <= 20; c++) {
      const record = encodeRecord(entry(z(c)));
      file.set(record, at);
      at += record.length;
    }
    const full = scanSegment(file, z(1), 1 << 20);
    expect(scanSegmentTail(file, z(1), 1 << 20)).toEqual(full);
    expect(full).toMatchObject({ count: 20, lastZxid: z(20), validEnd: at, damage: undefined });
    // A record whose CRC matches but whose payload is not a TxnEntry: written wrong, never torn.
    putRecord(file, at, new Uint8Array([0xa1, 0x61, 0x78, 0x01])); // CBOR {x: 1}
    const tail = scanSegmentTail(file, z(1), 1 << 20);
    expect(tail.damage).toMatchObject({ offset: at, fatal: expect.stringContaining('CRC matches') });
    expect(tail.count).toBe(20);
    expect(tail.lastZxid).toBeUndefined();
  });
});
