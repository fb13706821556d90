import type { ConclaveClient } from '@conclave/client';
import { BadArgumentsError } from '@conclave/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LockTimeoutError, ReadWriteLock } from '../src/index.js';
import { childrenOf, Clients, startTestServer, waitFor } from './helpers.js';

let srv: Awaited<ReturnType<typeof startTestServer>>;
const clients = new Clients();
let a: ConclaveClient;
let b: ConclaveClient;
let n = 0;
const freshPath = () => `/locks/rw-${++n}`;

beforeAll(async () => {
  srv = await startTestServer();
  a = await clients.connect(srv.server.connectString);
  b = await clients.connect(srv.server.connectString);
});
afterAll(async () => {
  await clients.closeAll();
  await srv?.stop();
});

describe('ReadWriteLock', () => {
  it('readers share; a writer excludes readers and writers', async () => {
    const path = freshPath();
    const r1 = await new ReadWriteLock(a, path).readLock.acquire();
    const r2 = await new ReadWriteLock(b, path).readLock.acquire({ timeoutMs: 2_000 });
    await expect(new ReadWriteLock(b, path).writeLock.acquire({ timeoutMs: 100 })).rejects.toBeInstanceOf(
      LockTimeoutError,
    );
    await r1.release();
    await r2.release();
    const w = await new ReadWriteLock(a, path).writeLock.acquire();
    await expect(new ReadWriteLock(b, path).readLock.acquire({ timeoutMs: 100 })).rejects.toBeInstanceOf(
      LockTimeoutError,
    );
    await expect(new ReadWriteLock(b, path).writeLock.acquire({ timeoutMs: 100 })).rejects.toBeInstanceOf(
      LockTimeoutError,
    );
    await w.release();
    expect(await childrenOf(a, path)).toEqual([]);
  });

  it('no writer starvation: a reader arriving after a queued writer waits behind it', async () => {
    const path = freshPath();
    const events: string[] = [];
    const r1 = await new ReadWriteLock(a, path).readLock.acquire();
    const writer = new ReadWriteLock(b, path).writeLock.acquire().then(async (h) => {
      events.push('writer');
      await h.release();
    });
    await waitFor('writer queued', async () => (await childrenOf(a, path)).length === 2);
    const lateReader = new ReadWriteLock(a, path).readLock.acquire().then(async (h) => {
      events.push('late reader');
      await h.release();
    });
    await waitFor('late reader queued', async () => (await childrenOf(a, path)).length === 3);
    expect(events).toEqual([]); // the late reader does not overtake the writer
    await r1.release();
    await Promise.all([writer, lateReader]);
    expect(events).toEqual(['writer', 'late reader']);
  });

  it('allows downgrade (write then read on one instance) and refuses upgrade', async () => {
    const path = freshPath();
    const rw = new ReadWriteLock(a, path);
    const w = await rw.writeLock.acquire();
    const r = await rw.readLock.acquire({ timeoutMs: 2_000 }); // downgrade: ignores our own write node
    await w.release();
    expect(rw.readLock.isHeld).toBe(true);
    await expect(rw.writeLock.acquire({ timeoutMs: 100 })).rejects.toBeInstanceOf(BadArgumentsError);
    await r.release();
    expect(await childrenOf(a, path)).toEqual([]);
  });

  it('downgrade with a foreign writer queued: the read is granted at once, and that writer waits for it', async () => {
    const path = freshPath();
    const rw = new ReadWriteLock(a, path);
    const w = await rw.writeLock.acquire();
    let foreignHeld = false;
    const foreign = new ReadWriteLock(b, path).writeLock.acquire().then((h) => {
      foreignHeld = true;
      return h;
    });
    await waitFor('foreign writer queued', async () => (await childrenOf(a, path)).length === 2);
    // Our read node is queued behind the foreign writer, which waits for our write node.
    const r = await rw.readLock.acquire({ timeoutMs: 2_000 });
    await w.release();
    // With our write node gone the foreign writer would be first in the queue while we read.
    expect(rw.writeLock.isHeld).toBe(true); // its node is kept until the read lock goes
    expect((await childrenOf(b, path)).length).toBe(3);
    expect(foreignHeld).toBe(false);
    await r.release();
    const fh = await foreign;
    expect(rw.writeLock.isHeld).toBe(false);
    expect(rw.readLock.isHeld).toBe(false);
    await fh.release();
    expect(await childrenOf(a, path)).toEqual([]);
  });

  it('downgrade without a foreign writer between: releasing the write lock lets other readers in', async () => {
    const path = freshPath();
    const rw = new ReadWriteLock(a, path);
    const w = await rw.writeLock.acquire();
    const r = await rw.readLock.acquire({ timeoutMs: 2_000 });
    await w.release();
    expect(rw.writeLock.isHeld).toBe(false);
    const other = await new ReadWriteLock(b, path).readLock.acquire({ timeoutMs: 5_000 });
    await other.release();
    await r.release();
    expect(await childrenOf(a, path)).toEqual([]);
  });

  it('under contention: writers are alone, readers overlap only with readers', async () => {
    const path = freshPath();
    let readers = 0;
    let writers = 0;
    let maxReaders = 0;
    const violations: string[] = [];
    const workers = Array.from({ length: 6 }, async (_, w) => {
      const rw = new ReadWriteLock(w % 2 === 0 ? a : b, path);
      for (let r = 0; r < 6; r++) {
        const writing = (w + r) % 3 === 0;
        const h = await (writing ? rw.writeLock : rw.readLock).acquire({ timeoutMs: 20_000 });
        if (writing) {
          writers++;
          if (writers > 1 || readers > 0)
            violations.push(`writer with ${writers - 1} writers, ${readers} readers`);
        } else {
          readers++;
          maxReaders = Math.max(maxReaders, readers);
          if (writers > 0) violations.push('reader with a writer');
        }
        await new Promise((res) => setTimeout(res, 3));
        if (writing) writers--;
        else readers--;
        await h.release();
      }
    });
    await Promise.all(workers);
    expect(violations).toEqual([]);
    expect(maxReaders).toBeGreaterThan(1);
    expect(await childrenOf(a, path)).toEqual([]);
  });
});
