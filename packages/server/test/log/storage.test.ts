import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BadArgumentsError, ThrottledOpError, type TxnEntry } from '@conclave/core';
import { describe, expect, it } from 'vitest';
import { Storage, StorageCorruptionError } from '../../src/log/index.js';
import { assertContiguous, entry, listChunks, listCodec, range, withTempDir, z } from './helpers.js';

async function collect(it: AsyncIterable<TxnEntry>): Promise<bigint[]> {
  const out: bigint[] = [];
  for await (const e of it) out.push(e.zxid);
  return out;
}

describe('Storage', () => {
  it('appends durably, group-commits concurrent appends, and recovers them in order', async () => {
    await withTempDir(async (dir) => {
      const storage = await Storage.open({ dir });
      expect(storage.lastZxid).toBe(0n);
      await storage.append(entry(z(1)));
      await Promise.all(range(2, 201).map((zx) => storage.append(entry(zx))));
      const stats = storage.stats();
      expect(stats.appends).toBe(201);
      // 200 appends issued together share a handful of fdatasyncs, not 200.
      expect(stats.batches).toBeLessThan(20);
      expect(stats.maxBatchAppends).toBeGreaterThan(10);
      expect(storage.lastZxid).toBe(z(201));
      await storage.close();

      const reopened = await Storage.open({ dir });
      const { state, lastZxid, snapshotZxid } = await reopened.recover(listCodec);
      expect(state.zxids).toEqual(range(1, 201));
      expect(lastZxid).toBe(z(201));
      expect(snapshotZxid).toBe(0n);
      await reopened.append(entry(z(202)));
      await reopened.close();
    });
  });

  it('rejects appends out of order or with a gap inside an epoch, and accepts a new epoch', async () => {
    await withTempDir(async (dir) => {
      const storage = await Storage.open({ dir, fsync: false });
      await storage.append(entry(z(1)));
      await expect(storage.append(entry(z(1)))).rejects.toBeInstanceOf(BadArgumentsError);
      await expect(storage.append(entry(z(3)))).rejects.toThrow(/gap/);
      await storage.append(entry(z(2)));
      await storage.append(entry(z(1, 2)));
      await storage.close();
      const reopened = await Storage.open({ dir, fsync: false });
      expect((await reopened.recover(listCodec)).state.zxids).toEqual([z(1), z(2), z(1, 2)]);
      await reopened.close();
    });
  });

  it('rolls segments and reads from any zxid across them (DIFF)', async () => {
    await withTempDir(async (dir) => {
      const storage = await Storage.open({ dir, segmentBytes: 8192 });
      await Promise.all(range(1, 400).map((zx) => storage.append(entry(zx, 64))));
      expect(storage.stats().segments).toBeGreaterThan(5);
      expect(await collect(storage.readFrom(z(0)))).toEqual(range(1, 400));
      // The first segment's header says it continues from zxid 0: the log holds the whole history.
      expect(await collect(storage.readFrom(0n))).toEqual(range(1, 400));
      expect(await collect(storage.readFrom(z(123)))).toEqual(range(124, 400));
      expect(await collect(storage.readFrom(z(400)))).toEqual([]);
      await storage.close();
      const files = (await readdir(dir)).filter((n) => n.startsWith('log.'));
      expect(files.length).toBe(storage.stats().segments);
    });
  });

  it('truncates across segments (ZAB TRUNC) and continues after the cut', async () => {
    await withTempDir(async (dir) => {
      const storage = await Storage.open({ dir, segmentBytes: 8192 });
      await Promise.all(range(1, 300).map((zx) => storage.append(entry(zx, 64))));
      const before = storage.stats().segments;
      await storage.truncate(z(150));
      expect(storage.lastZxid).toBe(z(150));
      expect(storage.stats().segments).toBeLessThan(before);
      expect(await collect(storage.readFrom(z(140)))).toEqual(range(141, 150));
      await storage.append(entry(z(151)));
      await storage.close();
      const reopened = await Storage.open({ dir, segmentBytes: 8192 });
      expect((await reopened.recover(listCodec)).state.zxids).toEqual(range(1, 151));
      await reopened.truncate(z(0));
      expect(reopened.lastZxid).toBe(0n);
      await reopened.append(entry(z(1, 2)));
      await reopened.close();
      const third = await Storage.open({ dir, segmentBytes: 8192 });
      expect((await third.recover(listCodec)).state.zxids).toEqual([z(1, 2)]);
      await third.close();
    });
  });

  it('snapshots while appends continue; purge keeps what recovery needs', async () => {
    await withTempDir(async (dir) => {
      const storage = await Storage.open({ dir, segmentBytes: 8192, snapshotsToKeep: 2 });
      const applied: bigint[] = [];
      let next = 1;
      const snapshots: Promise<void>[] = [];
      for (let round = 0; round < 6; round++) {
        const batch = range(next, next + 79);
        next += 80;
        await Promise.all(batch.map((zx) => storage.append(entry(zx, 64)).then(() => applied.push(zx))));
        // Snapshot the applied state while the next round of appends is already in flight.
        const at = applied[applied.length - 1]!;
        snapshots.push(storage.snapshot(at, listChunks([...applied])));
      }
      await Promise.all(snapshots);
      await storage.purge();
      const names = await readdir(dir);
      const snaps = names.filter((n) => n.startsWith('snapshot.')).sort();
      expect(snaps.length).toBe(2);
      // Old segments were purged (the first ones only held entries below the oldest kept snapshot).
      expect(names).not.toContain('log.100000001');
      await expect(collect(storage.readFrom(z(1)))).rejects.toBeInstanceOf(BadArgumentsError);
      await storage.close();

      const reopened = await Storage.open({ dir, segmentBytes: 8192 });
      const recovered = await reopened.recover(listCodec);
      expect(recovered.state.zxids).toEqual(range(1, 480));
      expect(recovered.snapshotZxid).toBe(z(480));
      await reopened.close();

      // Without the newest snapshot, the older one plus the retained log still give everything.
      const newest = snaps.map((n) => BigInt(`0x${n.slice(9)}`)).sort((a, b) => (a < b ? 1 : -1))[0]!;
      await rm(join(dir, `snapshot.${newest.toString(16)}`));
      const fallback = await Storage.open({ dir, segmentBytes: 8192 });
      const again = await fallback.recover(listCodec);
      expect(again.state.zxids).toEqual(range(1, 480));
      expect(again.snapshotZxid).toBe(z(400));
      await fallback.close();
    });
  });

  it('continues the log after a snapshot beyond it (SNAP sync)', async () => {
    await withTempDir(async (dir) => {
      const storage = await Storage.open({ dir });
      await Promise.all(range(1, 5).map((zx) => storage.append(entry(zx))));
      await storage.snapshot(z(100), listChunks(range(1, 100)));
      expect(storage.lastZxid).toBe(z(100));
      await expect(storage.append(entry(z(6)))).rejects.toBeInstanceOf(BadArgumentsError);
      await storage.append(entry(z(101)));
      await expect(collect(storage.readFrom(z(3)))).rejects.toThrow(/SNAP/);
      expect(await collect(storage.readFrom(z(100)))).toEqual([z(101)]);
      await storage.close();
      const reopened = await Storage.open({ dir });
      expect((await reopened.recover(listCodec)).state.zxids).toEqual(range(1, 101));
      await reopened.close();
    });
  });

  it('persists epochs atomically; missing reads as 0; damage names the file', async () => {
    await withTempDir(async (dir) => {
      const storage = await Storage.open({ dir });
      expect(await storage.readEpochs()).toEqual({ acceptedEpoch: 0, currentEpoch: 0 });
      await storage.writeAcceptedEpoch(5);
      await storage.writeCurrentEpoch(4);
      expect(await storage.readEpochs()).toEqual({ acceptedEpoch: 5, currentEpoch: 4 });
      await expect(storage.writeCurrentEpoch(-1)).rejects.toBeInstanceOf(BadArgumentsError);
      await storage.close();
      const reopened = await Storage.open({ dir });
      expect(await reopened.readEpochs()).toEqual({ acceptedEpoch: 5, currentEpoch: 4 });
      await writeFile(join(dir, 'currentEpoch'), '7 crc32c=00000000\n');
      const err = await reopened.readEpochs().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageCorruptionError);
      expect((err as Error).message).toContain(join(dir, 'currentEpoch'));
      expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
      await reopened.close();
    });
  });

  it('bounds the queue of appends waiting for the disk', async () => {
    await withTempDir(async (dir) => {
      const storage = await Storage.open({ dir, maxPendingAppends: 10 });
      const results = await Promise.allSettled(range(1, 100).map((zx) => storage.append(entry(zx))));
      const throttled = results.filter((r) => r.status === 'rejected');
      expect(throttled.length).toBeGreaterThan(0);
      // The first refused append is throttled; later ones then leave a gap and are refused as such.
      expect((throttled[0] as PromiseRejectedResult).reason).toBeInstanceOf(ThrottledOpError);
      for (const r of throttled.slice(1)) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(Error);
      await storage.close();
      const reopened = await Storage.open({ dir });
      const { state } = await reopened.recover(listCodec);
      assertContiguous(state.zxids);
      expect(state.zxids.length).toBe(100 - throttled.length);
      await reopened.close();
    });
  });
  it('refuses a second open of the same directory in one process', async () => {
    await withTempDir(async (dir) => {
      const storage = await Storage.open({ dir, fsync: false });
      await expect(Storage.open({ dir, fsync: false })).rejects.toThrow(/already open/);
      await storage.close();
      const again = await Storage.open({ dir, fsync: false });
      await again.close();
    });
  });

  it('refuses to truncate below the oldest snapshot, and drops snapshots beyond the cut', async () => {
    await withTempDir(async (dir) => {
      const storage = await Storage.open({ dir, segmentBytes: 8192 });
      await Promise.all(range(1, 100).map((zx) => storage.append(entry(zx))));
      await storage.snapshot(z(50), listChunks(range(1, 50)));
      await storage.snapshot(z(90), listChunks(range(1, 90)));
      await expect(storage.truncate(z(40))).rejects.toThrow(/oldest snapshot .*SNAP/);
      await storage.truncate(z(60));
      expect(storage.lastZxid).toBe(z(60));
      expect((await readdir(dir)).filter((n) => n.startsWith('snapshot.'))).toEqual([
        `snapshot.${z(50).toString(16)}`,
      ]);
      await storage.close();
      const reopened = await Storage.open({ dir, segmentBytes: 8192 });
      const recovered = await reopened.recover(listCodec);
      expect(recovered.state.zxids).toEqual(range(1, 60));
      expect(recovered.snapshotZxid).toBe(z(50));
      await reopened.close();
    });
  });

  it('reads only durable entries while appends are in flight', async () => {
    await withTempDir(async (dir) => {
      const storage = await Storage.open({ dir, segmentBytes: 8192 });
      await Promise.all(range(1, 50).map((zx) => storage.append(entry(zx))));
      const inFlight = Promise.all(range(51, 300).map((zx) => storage.append(entry(zx))));
      const read = await collect(storage.readFrom(z(10)));
      expect(read[0]).toBe(z(11));
      assertContiguous(read);
      expect(read[read.length - 1]! >= z(50)).toBe(true);
      await inFlight;
      expect(await collect(storage.readFrom(z(10)))).toEqual(range(11, 300));
      await storage.close();
    });
  });
  it('streams snapshots of any chunk sizes back with their boundaries', async () => {
    await withTempDir(async (dir) => {
      const storage = await Storage.open({ dir, fsync: false });
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < 3000; i++) chunks.push(new Uint8Array(1 + (i % 700)).fill(i & 0xff));
      chunks.push(new Uint8Array(3 * 1024 * 1024 + 17).fill(9)); // bigger than the 1 MiB read block
      chunks.push(new Uint8Array(0)); // empty chunks are dropped
      chunks.push(new Uint8Array(5).fill(1));
      async function* slowly() {
        for (const c of chunks) {
          await Promise.resolve();
          yield c;
        }
      }
      await storage.snapshot(z(10), slowly());
      await storage.close();
      const reopened = await Storage.open({ dir, fsync: false });
      const seen: Uint8Array[] = [];
      const { snapshotZxid, lastZxid } = await reopened.recover({
        empty: () => null,
        async load(loaded) {
          for await (const c of loaded) seen.push(c);
          return null;
        },
        apply() {},
      });
      expect(snapshotZxid).toBe(z(10));
      expect(lastZxid).toBe(z(10));
      const expected = chunks.filter((c) => c.length > 0);
      expect(seen.length).toBe(expected.length);
      for (let i = 0; i < expected.length; i++) expect(Buffer.compare(seen[i]!, expected[i]!)).toBe(0);
      await reopened.close();
    });
  });
});
