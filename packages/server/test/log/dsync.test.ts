import { readdir, readFile, readlink } from 'node:fs/promises';
import { constants } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Storage, type StorageFs, nodeFs } from '../../src/log/index.js';
import { entry, listCodec, range, withTempDir, z } from './helpers.js';

/** The open flags (octal, from /proc/self/fdinfo) of this process's fds open on `path`. */
async function openFlags(path: string): Promise<number[]> {
  const out: number[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target !== path) continue;
    const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8').catch(() => '');
    const m = /^flags:\s+([0-7]+)$/m.exec(info);
    if (m) out.push(Number.parseInt(m[1]!, 8));
  }
  return out;
}

describe('durable writes: O_DSYNC segments with node:fs, write + fdatasync otherwise', () => {
  it.skipIf(process.platform !== 'linux')(
    'with node:fs the active segment is O_DSYNC: each batch is one durable write, and it survives reopening',
    async () => {
      await withTempDir(async (dir) => {
        const storage = await Storage.open({ dir });
        await storage.append(entry(z(1)));
        await Promise.all(range(2, 101).map((zx) => storage.append(entry(zx))));
        const segment = (await readdir(dir)).find((n) => n.startsWith('log.'));
        expect(segment).toBeDefined();
        const flags = await openFlags(`${dir}/${segment}`);
        expect(flags.length).toBe(1);
        expect(flags[0]! & constants.O_DSYNC).toBe(constants.O_DSYNC);
        const stats = storage.stats();
        // Creating the segment: fsync of the file and of the directory; then one per batch.
        expect(stats.fsyncs).toBe(2 + stats.batches);
        await storage.close();

        const reopened = await Storage.open({ dir });
        const { state } = await reopened.recover(listCodec);
        expect(state.zxids).toEqual(range(1, 101));
        // The reopened tail segment is O_DSYNC too.
        await reopened.append(entry(z(102)));
        expect((await openFlags(`${dir}/${segment}`))[0]! & constants.O_DSYNC).toBe(constants.O_DSYNC);
        await reopened.close();
      });
    },
  );

  it('an injected file system sees one write and one fdatasync per batch (its hooks see every durability point)', async () => {
    await withTempDir(async (dir) => {
      let fdatasyncs = 0;
      const io: StorageFs = {
        ...nodeFs,
        fdatasync(fd) {
          fdatasyncs++;
          return nodeFs.fdatasync(fd);
        },
      };
      const storage = await Storage.open({ dir, fs: io });
      await storage.append(entry(z(1)));
      await Promise.all(range(2, 51).map((zx) => storage.append(entry(zx))));
      const stats = storage.stats();
      expect(stats.appends).toBe(51);
      expect(fdatasyncs).toBe(stats.batches);
      await storage.close();
    });
  });
});
