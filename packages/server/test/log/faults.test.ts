import { open, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { DataInconsistencyError, SystemError } from '@conclave/core';
import { describe, expect, it } from 'vitest';
import {
  LogWriteError,
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
  Storage,
  StorageCorruptionError,
  type StorageFs,
  encodeRecord,
  nodeFs,
} from '../../src/log/index.js';
import { entry, listChunks, listCodec, range, withTempDir, z } from './helpers.js';

const SEGMENT = 16 * 1024;
const RECORD = encodeRecord(entry(z(1))).length; // every test entry encodes to the same size

/** Byte offset of the record holding counter `c` (1-based) in a segment that starts at counter `first`. */
const offsetOf = (c: number, first = 1) => SEGMENT_HEADER_BYTES + (c - first) * RECORD;

async function writeLog(dir: string, count: number, extra: object = {}): Promise<void> {
  const storage = await Storage.open({ dir, segmentBytes: SEGMENT, ...extra });
  await Promise.all(range(1, count).map((zx) => storage.append(entry(zx))));
  await storage.close();
}

async function recoverZxids(dir: string): Promise<{ zxids: bigint[]; notes: string[]; storage: Storage }> {
  const storage = await Storage.open({ dir, segmentBytes: SEGMENT });
  const { state } = await storage.recover(listCodec);
  return { zxids: state.zxids, notes: storage.notes, storage };
}

async function segments(dir: string): Promise<string[]> {
  return (await readdir(dir))
    .filter((n) => n.startsWith('log.'))
    .sort((a, b) => (BigInt(`0x${a.slice(4)}`) < BigInt(`0x${b.slice(4)}`) ? -1 : 1));
}

async function patch(file: string, offset: number, bytes: Uint8Array): Promise<void> {
  const fh = await open(file, 'r+');
  await fh.write(bytes, 0, bytes.length, offset);
  await fh.close();
}

async function flipBit(file: string, offset: number): Promise<void> {
  const bytes = await readFile(file);
  await patch(file, offset, new Uint8Array([bytes[offset]! ^ 0x10]));
}

describe('recovery from damaged files', () => {
  it('a truncated tail (file cut mid-record) loses only the torn record', async () => {
    await withTempDir(async (dir) => {
      await writeLog(dir, 20);
      const [seg] = await segments(dir);
      await truncate(join(dir, seg!), offsetOf(20) + 5);
      const { zxids, notes, storage } = await recoverZxids(dir);
      expect(zxids).toEqual(range(1, 19));
      expect(notes.join('\n')).toMatch(/truncated the torn tail/);
      await storage.append(entry(z(20)));
      await storage.close();
      expect((await recoverZxids(dir)).zxids).toEqual(range(1, 20));
    });
  });

  it('a zeroed tail (the last records never reached the disk) is truncated', async () => {
    await withTempDir(async (dir) => {
      await writeLog(dir, 20);
      const [seg] = await segments(dir);
      // Zero the middle of record 19 and all of record 20, as a lost page would.
      await patch(join(dir, seg!), offsetOf(19) + RECORD_HEADER_BYTES + 3, new Uint8Array(RECORD * 2 - 3));
      const { zxids, storage } = await recoverZxids(dir);
      expect(zxids).toEqual(range(1, 18));
      await storage.append(entry(z(19)));
      await storage.close();
    });
  });

  it('a flipped bit in the last record truncates that record', async () => {
    await withTempDir(async (dir) => {
      await writeLog(dir, 20);
      const [seg] = await segments(dir);
      await flipBit(join(dir, seg!), offsetOf(20) + RECORD_HEADER_BYTES + 10);
      const { zxids, storage } = await recoverZxids(dir);
      expect(zxids).toEqual(range(1, 19));
      await storage.close();
    });
  });

  it('a torn tail inside a payload that holds a record-like copy is torn, unless the copy continues the log', async () => {
    // A client's setData value can hold bytes that form a valid record (here: a copy of an older
    // txn's record). A crash that tears the log inside that txn must stay an ordinary torn tail.
    const withCopy = (zxid: bigint, copied: bigint) => ({
      ...entry(zxid),
      txn: { type: 'setData' as const, path: '/backup', data: encodeRecord(entry(copied)), version: 1 },
    });
    const tearLast = async (dir: string, copied: bigint) => {
      await writeLog(dir, 20);
      const storage = await Storage.open({ dir, segmentBytes: SEGMENT });
      await storage.append(withCopy(z(21), copied));
      await storage.close();
      const [seg] = await segments(dir);
      // The first bytes of txn 21 never reached the disk; its payload (with the copy) did.
      await patch(join(dir, seg!), offsetOf(21), new Uint8Array(RECORD_HEADER_BYTES + 16));
    };
    await withTempDir(async (dir) => {
      await tearLast(dir, z(3));
      const { zxids, notes, storage } = await recoverZxids(dir);
      expect(zxids).toEqual(range(1, 20));
      expect(notes.join('\n')).toMatch(/truncated the torn tail/);
      await storage.close();
    });
    // A copy whose zxid continues the history cannot be told from damage before a real record.
    await withTempDir(async (dir) => {
      await tearLast(dir, z(22));
      await expect(Storage.open({ dir, segmentBytes: SEGMENT })).rejects.toThrow(/valid records follow/);
    });
  });

  it('a flipped bit in the middle is fatal and names the file and offset', async () => {
    await withTempDir(async (dir) => {
      await writeLog(dir, 20);
      const [seg] = await segments(dir);
      const file = join(dir, seg!);
      await flipBit(file, offsetOf(7) + RECORD_HEADER_BYTES + 10);
      const err = await Storage.open({ dir, segmentBytes: SEGMENT }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageCorruptionError);
      expect(err).toBeInstanceOf(DataInconsistencyError);
      expect((err as StorageCorruptionError).code).toBe('DATAINCONSISTENCY');
      expect((err as StorageCorruptionError).file).toBe(file);
      expect((err as StorageCorruptionError).offset).toBe(offsetOf(7));
      expect((err as Error).message).toContain(`${file} at byte ${offsetOf(7)}`);
      // Refusing must not have modified anything: the data is still there for an operator.
      expect((await stat(file)).size).toBe(SEGMENT);
    });
  });

  it('a flipped length in the middle is fatal too', async () => {
    await withTempDir(async (dir) => {
      await writeLog(dir, 20);
      const [seg] = await segments(dir);
      await flipBit(join(dir, seg!), offsetOf(3) + 1);
      await expect(Storage.open({ dir, segmentBytes: SEGMENT })).rejects.toThrow(
        new RegExp(`at byte ${offsetOf(3)}:`),
      );
    });
  });

  it('damage in an older segment is fatal during recovery, even at its end', async () => {
    await withTempDir(async (dir) => {
      await writeLog(dir, 400);
      const segs = await segments(dir);
      expect(segs.length).toBeGreaterThan(2);
      const file = join(dir, segs[0]!);
      // The last record of the first (sealed) segment.
      const perSegment = Math.floor((SEGMENT - SEGMENT_HEADER_BYTES) / RECORD);
      await flipBit(file, offsetOf(perSegment) + RECORD_HEADER_BYTES + 4);
      const storage = await Storage.open({ dir, segmentBytes: SEGMENT });
      const err = await storage.recover(listCodec).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageCorruptionError);
      expect((err as StorageCorruptionError).file).toBe(file);
      expect((err as StorageCorruptionError).offset).toBe(offsetOf(perSegment));
      await storage.close();
    });
  });

  it('a missing segment in the middle (a zxid gap) is fatal', async () => {
    await withTempDir(async (dir) => {
      await writeLog(dir, 400);
      const segs = await segments(dir);
      await rm(join(dir, segs[1]!));
      const storage = await Storage.open({ dir, segmentBytes: SEGMENT });
      await expect(storage.recover(listCodec)).rejects.toThrow(/the txns in between are missing/);
      await storage.close();
    });
  });

  it('an empty newest segment (crash while rolling) is removed', async () => {
    await withTempDir(async (dir) => {
      await writeLog(dir, 20);
      await writeFile(join(dir, `log.${z(21).toString(16)}`), new Uint8Array(100));
      const { zxids, notes, storage } = await recoverZxids(dir);
      expect(zxids).toEqual(range(1, 20));
      expect(notes.join('\n')).toMatch(/holds no valid record/);
      await storage.append(entry(z(21)));
      await storage.close();
    });
  });

  it('falls back to an older snapshot when the newest is corrupt, cut short or missing', async () => {
    await withTempDir(async (dir) => {
      const storage = await Storage.open({ dir, segmentBytes: SEGMENT, snapshotsToKeep: 3 });
      for (const upTo of [100, 200, 300]) {
        await Promise.all(range(upTo - 99, upTo).map((zx) => storage.append(entry(zx))));
        await storage.snapshot(z(upTo), listChunks(range(1, upTo)));
      }
      await storage.close();
      const snap = (n: number) => join(dir, `snapshot.${z(n).toString(16)}`);

      await flipBit(snap(300), 100); // corrupt body: CRC mismatch
      let r = await recoverWith(dir);
      expect(r.snapshotZxid).toBe(z(200));
      expect(r.zxids).toEqual(range(1, 300));
      expect(r.notes).toMatch(/skipped snapshot .*snapshot\.10000012c: the snapshot CRC does not match/);

      await truncate(snap(200), 60); // cut short: no trailer
      r = await recoverWith(dir);
      expect(r.snapshotZxid).toBe(z(100));
      expect(r.zxids).toEqual(range(1, 300));

      await rm(snap(100));
      // No valid snapshot left, but the log still reaches back to zxid 0: replay all of it.
      r = await recoverWith(dir);
      expect(r.snapshotZxid).toBe(0n);
      expect(r.zxids).toEqual(range(1, 300));
      expect(r.notes).toMatch(/replaying the whole log from an empty state/);
    });
  });

  it('is fatal when no valid snapshot is left and the log no longer reaches back to zxid 0', async () => {
    await withTempDir(async (dir) => {
      const storage = await Storage.open({ dir, segmentBytes: SEGMENT, snapshotsToKeep: 1 });
      await Promise.all(range(1, 400).map((zx) => storage.append(entry(zx))));
      await storage.snapshot(z(350), listChunks(range(1, 350))); // purges the segments before it
      await storage.close();
      const file = join(dir, `snapshot.${z(350).toString(16)}`);
      await flipBit(file, 100);
      const broken = await Storage.open({ dir, segmentBytes: SEGMENT });
      const err = await broken.recover(listCodec).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageCorruptionError);
      expect((err as Error).message).toMatch(/txns in between are missing \(snapshots skipped: .*CRC/);
      await broken.close();
    });
  });
});

describe('snapshot beyond the log (SNAP sync) that turns out corrupt', () => {
  it('is fatal: the member would forget txns it had (and may have acknowledged)', async () => {
    await withTempDir(async (dir) => {
      const storage = await Storage.open({ dir, segmentBytes: SEGMENT });
      await Promise.all(range(1, 5).map((zx) => storage.append(entry(zx))));
      await storage.snapshot(z(3), listChunks(range(1, 3)));
      await storage.snapshot(z(100), listChunks(range(1, 100)));
      await storage.close();
      await flipBit(join(dir, `snapshot.${z(100).toString(16)}`), 40);

      const reopened = await Storage.open({ dir, segmentBytes: SEGMENT });
      expect(reopened.lastZxid).toBe(z(100)); // the trailer looked fine
      const err = await reopened.recover(listCodec).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageCorruptionError);
      expect((err as Error).message).toMatch(
        /reached 0x100000064 .* but only 0x100000005 \(1:5\) can be recovered/,
      );
      await reopened.close();
    });
  });
});

async function recoverWith(dir: string): Promise<{ zxids: bigint[]; snapshotZxid: bigint; notes: string }> {
  const storage = await Storage.open({ dir, segmentBytes: SEGMENT });
  const { state, snapshotZxid } = await storage.recover(listCodec);
  await storage.close();
  return { zxids: state.zxids, snapshotZxid, notes: storage.notes.join('\n') };
}

/** node:fs with a disk that fills up after `capacity` more bytes, or an fdatasync that fails. */
function faultyFs(opts: { capacity?: number; failSync?: () => boolean }): StorageFs & { full: boolean } {
  let left = opts.capacity ?? Number.POSITIVE_INFINITY;
  const io = {
    ...nodeFs,
    full: false,
    async write(fd: number, buffer: Uint8Array, offset: number, length: number, position: number) {
      if (length > left) {
        // A real full disk writes what fits, then fails.
        if (left > 0) {
          const n = await nodeFs.write(fd, buffer, offset, left, position);
          left -= n;
          return n;
        }
        io.full = true;
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), {
          code: 'ENOSPC',
          errno: -28,
        });
      }
      left -= length;
      return nodeFs.write(fd, buffer, offset, length, position);
    },
    async fdatasync(fd: number) {
      if (opts.failSync?.())
        throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO', errno: -5 });
      return nodeFs.fdatasync(fd);
    },
  };
  return io;
}

describe('disk failures', () => {
  it('ENOSPC: the append rejects, the log refuses more until reopened, nothing acknowledged is lost', async () => {
    await withTempDir(async (dir) => {
      const io = faultyFs({ capacity: SEGMENT_HEADER_BYTES + 30 * RECORD + RECORD / 2 });
      const storage = await Storage.open({ dir, segmentBytes: SEGMENT, fs: io });
      const acked: bigint[] = [];
      const results = await Promise.allSettled(
        range(1, 60).map((zx) => storage.append(entry(zx)).then(() => acked.push(zx))),
      );
      expect(io.full).toBe(true);
      const failures = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      expect(failures.length).toBeGreaterThan(0);
      expect(failures[0]!.reason).toBeInstanceOf(LogWriteError);
      expect(failures[0]!.reason).toBeInstanceOf(SystemError);
      expect((failures[0]!.reason as LogWriteError).osCode).toBe('ENOSPC');
      expect(acked.length).toBeLessThan(31);
      // Halted: even a well-ordered append is refused now.
      await expect(storage.append(entry(z(61)))).rejects.toBeInstanceOf(LogWriteError);
      expect(storage.failure).toBeInstanceOf(LogWriteError);
      await expect(storage.truncate(z(1))).rejects.toBeInstanceOf(LogWriteError);
      await storage.close();

      // Space freed, member restarted: every acknowledged append is there, the torn tail is gone.
      const { zxids, storage: reopened } = await recoverZxids(dir);
      expect(zxids.slice(0, acked.length)).toEqual(acked);
      expect(zxids.length).toBeLessThanOrEqual(30);
      const next = (zxids[zxids.length - 1] ?? z(0)) + 1n;
      await reopened.append(entry(next));
      await reopened.close();
    });
  });

  it('a failed fdatasync rejects the batch and halts the log', async () => {
    await withTempDir(async (dir) => {
      let syncs = 0;
      const io = faultyFs({ failSync: () => ++syncs > 3 });
      const storage = await Storage.open({ dir, segmentBytes: SEGMENT, fs: io });
      const acked: bigint[] = [];
      for (const zx of range(1, 10)) {
        const ok = await storage.append(entry(zx)).then(
          () => true,
          (e: unknown) => e instanceof LogWriteError && (e as LogWriteError).osCode === 'EIO',
        );
        expect(ok).toBe(true);
        if (storage.durableZxid >= zx) acked.push(zx);
      }
      expect(acked.length).toBeGreaterThan(0);
      expect(acked.length).toBeLessThan(10);
      await storage.close();
      const { zxids, storage: reopened } = await recoverZxids(dir);
      expect(zxids.slice(0, acked.length)).toEqual(acked);
      await reopened.close();
    });
  });
  it('ENOSPC while writing a snapshot fails that snapshot only; the log keeps going', async () => {
    await withTempDir(async (dir) => {
      const snapshotFds = new Set<number>();
      const io: StorageFs = {
        ...nodeFs,
        async open(path, flags) {
          const fd = await nodeFs.open(path, flags);
          if (path.includes('snapshot.')) snapshotFds.add(fd);
          return fd;
        },
        async write(fd, buffer, offset, length, position) {
          if (snapshotFds.has(fd))
            throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
          return nodeFs.write(fd, buffer, offset, length, position);
        },
      };
      const storage = await Storage.open({ dir, segmentBytes: SEGMENT, fs: io });
      await Promise.all(range(1, 10).map((zx) => storage.append(entry(zx))));
      await expect(storage.snapshot(z(10), listChunks(range(1, 10)))).rejects.toThrow(/ENOSPC/);
      expect((await readdir(dir)).filter((n) => n.startsWith('snapshot'))).toEqual([]);
      await storage.append(entry(z(11)));
      expect(storage.failure).toBeUndefined();
      await storage.close();
      expect((await recoverWith(dir)).zxids).toEqual(range(1, 11));
    });
  });
  it('a truncate interrupted part-way leaves a consistent log (longer, never with a hole)', async () => {
    await withTempDir(async (dir) => {
      let failTruncate = false;
      const io: StorageFs = {
        ...nodeFs,
        async ftruncate(fd, length) {
          if (failTruncate) throw Object.assign(new Error('EIO: i/o error, ftruncate'), { code: 'EIO' });
          return nodeFs.ftruncate(fd, length);
        },
      };
      const storage = await Storage.open({ dir, segmentBytes: SEGMENT, fs: io });
      await Promise.all(range(1, 400).map((zx) => storage.append(entry(zx))));
      failTruncate = true; // later segments get deleted, then zeroing the cut segment's tail fails
      await expect(storage.truncate(z(100))).rejects.toThrow(/EIO/);
      expect(storage.failure).toBeInstanceOf(LogWriteError);
      await expect(storage.append(entry(z(401)))).rejects.toBeInstanceOf(LogWriteError);
      await storage.close();
      const { zxids, storage: reopened } = await recoverZxids(dir);
      expect(zxids.length).toBeGreaterThanOrEqual(100);
      expect(zxids).toEqual(range(1, zxids.length));
      await reopened.truncate(z(100)); // the retried TRUNC completes
      expect(reopened.lastZxid).toBe(z(100));
      await reopened.close();
      expect((await recoverWith(dir)).zxids).toEqual(range(1, 100));
    });
  });
  it('TRUNC across a SNAP jump: refused where only the deleted snapshot held the txns; interrupted, still consistent', async () => {
    await withTempDir(async (dir) => {
      let failUnlink = false;
      const io: StorageFs = {
        ...nodeFs,
        async unlink(path) {
          if (failUnlink && basename(path).startsWith('log.'))
            throw Object.assign(new Error('EIO: i/o error, unlink'), { code: 'EIO' });
          return nodeFs.unlink(path);
        },
      };
      const storage = await Storage.open({ dir, segmentBytes: SEGMENT, fs: io, purgeAfterSnapshot: false });
      await Promise.all(range(1, 10).map((zx) => storage.append(entry(zx))));
      await storage.snapshot(z(5), listChunks(range(1, 5)));
      await storage.snapshot(z(20), listChunks(range(1, 20))); // SNAP sync: 11..20 never logged
      await Promise.all(range(21, 30).map((zx) => storage.append(entry(zx))));
      // Back to 15 would need 11..15, held only by the snapshot at 20 that TRUNC deletes: a
      // history ending at 10 is not what the leader asked for.
      await expect(storage.truncate(z(15))).rejects.toThrow(/SNAP/);
      expect(storage.lastZxid).toBe(z(30));
      // A TRUNC that fails part-way (here: deleting the segment after the jump) must leave a
      // history recovery accepts, not a segment continuing from a snapshot already deleted.
      failUnlink = true;
      await expect(storage.truncate(z(8))).rejects.toThrow(/EIO/);
      await storage.close();
      expect((await recoverWith(dir)).zxids).toEqual(range(1, 30));
      const { storage: reopened } = await recoverZxids(dir);
      await reopened.truncate(z(8));
      expect(reopened.lastZxid).toBe(z(8));
      await reopened.close();
      expect((await recoverWith(dir)).zxids).toEqual(range(1, 8));
    });
  });
  it('purge counts only intact snapshots toward the number kept', async () => {
    await withTempDir(async (dir) => {
      const storage = await Storage.open({ dir, segmentBytes: SEGMENT, snapshotsToKeep: 2 });
      await Promise.all(range(1, 200).map((zx) => storage.append(entry(zx))));
      await storage.snapshot(z(100), listChunks(range(1, 100)));
      await storage.snapshot(z(150), listChunks(range(1, 150)));
      await truncate(join(dir, `snapshot.${z(150).toString(16)}`), 50); // damaged after the fact
      await storage.snapshot(z(160), listChunks(range(1, 160)));
      await truncate(join(dir, `snapshot.${z(160).toString(16)}`), 50);
      await storage.purge();
      await storage.close();
      // snapshot 100 is the newest intact one: it and the log after it survived the purges.
      const r = await recoverWith(dir);
      expect(r.snapshotZxid).toBe(z(100));
      expect(r.zxids).toEqual(range(1, 200));
    });
  });
});
