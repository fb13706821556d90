import { describe, expect, it } from 'vitest';
import { Storage, type StorageFs, nodeFs } from '../../src/log/index.js';
import { entry, listCodec, range, withTempDir, z } from './helpers.js';

/** node:fs whose fdatasync waits until the test opens the gate, so "in flight" can be observed. */
function gatedFs() {
  const waiting: (() => void)[] = [];
  let syncs = 0;
  const io: StorageFs = {
    ...nodeFs,
    async fdatasync(fd) {
      syncs++;
      await new Promise<void>((resolve) => waiting.push(resolve));
      return nodeFs.fdatasync(fd);
    },
  };
  return {
    io,
    get syncs() {
      return syncs;
    },
    /** Lets the oldest waiting fdatasync proceed; resolves once one was waiting. */
    async release(): Promise<void> {
      const deadline = Date.now() + 10_000;
      while (waiting.length === 0) {
        if (Date.now() > deadline) throw new Error('no fdatasync is waiting');
        await new Promise((r) => setImmediate(r));
      }
      waiting.shift()!();
    },
  };
}

const settle = () => new Promise((r) => setImmediate(r));

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await settle();
  }
}

describe('group commit', () => {
  it('acknowledges an append only after the fdatasync covering it, and batches what queued meanwhile', async () => {
    await withTempDir(async (dir) => {
      const gate = gatedFs();
      // A fresh log creates its first segment with fsyncs of its own; use one that exists already.
      const setup = await Storage.open({ dir });
      await setup.append(entry(z(1)));
      await setup.close();
      const storage = await Storage.open({ dir, fs: gate.io });
      await storage.recover(listCodec);

      const done = new Set<bigint>();
      const first = storage.append(entry(z(2))).then(() => done.add(z(2)));
      await until(() => gate.syncs === 1, 'batch 1 to reach fdatasync'); // batch 1 = [2]
      // These queue behind the in-flight fdatasync.
      const rest = range(3, 50).map((zx) => storage.append(entry(zx)).then(() => done.add(zx)));
      await settle();
      expect(done.size).toBe(0);
      expect(storage.durableZxid).toBe(z(1));

      await gate.release(); // batch 1 durable
      await first;
      expect([...done]).toEqual([z(2)]);
      // batch 2 = [3..50] goes out as one write + one fdatasync
      await until(() => gate.syncs === 2, 'batch 2 to reach fdatasync');
      expect(done.size).toBe(1);

      await gate.release();
      await Promise.all(rest);
      expect(done.size).toBe(49);
      expect(storage.stats()).toMatchObject({ appends: 49, batches: 2, fsyncs: 2, maxBatchAppends: 48 });
      await storage.close();
    });
  });
});
