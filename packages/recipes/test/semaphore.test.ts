import type { ConclaveClient } from '@conclave/client';
import { BadArgumentsError } from '@conclave/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LockTimeoutError, Semaphore } from '../src/index.js';
import { CuttableProxy, childrenOf, Clients, startTestServer, waitFor } from './helpers.js';

let srv: Awaited<ReturnType<typeof startTestServer>>;
const clients = new Clients();
let cs: ConclaveClient[];
let n = 0;
const freshPath = () => `/semaphores/s-${++n}`;

beforeAll(async () => {
  srv = await startTestServer();
  cs = await Promise.all([0, 1, 2].map(() => clients.connect(srv.server.connectString)));
});
afterAll(async () => {
  await clients.closeAll();
  await srv?.stop();
});

describe('Semaphore', () => {
  it('never grants more than maxLeases at once, and every acquirer gets its turn', async () => {
    const path = freshPath();
    let inUse = 0;
    let peak = 0;
    let done = 0;
    await Promise.all(
      Array.from({ length: 9 }, async (_, i) => {
        const sem = new Semaphore(cs[i % 3]!, path, { maxLeases: 3 });
        for (let r = 0; r < 3; r++) {
          const lease = await sem.acquire({ timeoutMs: 20_000 });
          inUse++;
          peak = Math.max(peak, inUse);
          await new Promise((res) => setTimeout(res, 2));
          inUse--;
          await lease.release();
          done++;
        }
      }),
    );
    expect(done).toBe(27);
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThan(1);
    expect(await childrenOf(cs[0]!, `${path}/leases`)).toEqual([]);
  });

  it('takes several leases at once, blocks when full, times out cleanly', async () => {
    const path = freshPath();
    const sem = new Semaphore(cs[0]!, path, { maxLeases: 4 });
    const three = await sem.acquire({ count: 3 });
    expect(three.nodes).toHaveLength(3);
    const one = await new Semaphore(cs[1]!, path, { maxLeases: 4 }).acquire();
    await expect(
      new Semaphore(cs[2]!, path, { maxLeases: 4 }).acquire({ timeoutMs: 150 }),
    ).rejects.toBeInstanceOf(LockTimeoutError);
    expect(await childrenOf(cs[0]!, `${path}/leases`)).toHaveLength(4);
    expect(await childrenOf(cs[0]!, `${path}/locks`)).toEqual([]);
    const waiting = new Semaphore(cs[2]!, path, { maxLeases: 4 }).acquire({ count: 2, timeoutMs: 10_000 });
    await waitFor('waiter queued', async () => (await childrenOf(cs[0]!, `${path}/leases`)).length === 5);
    await three.release();
    const two = await waiting;
    expect(two.nodes).toHaveLength(2);
    await Promise.all([one.release(), two.release()]);
    expect(await childrenOf(cs[0]!, `${path}/leases`)).toEqual([]);
  });

  it('rejects bad arguments with BadArgumentsError', async () => {
    expect(() => new Semaphore(cs[0]!, '/semaphores/bad', { maxLeases: 0 })).toThrow(BadArgumentsError);
    const sem = new Semaphore(cs[0]!, '/semaphores/bad', { maxLeases: 2 });
    await expect(sem.acquire({ count: 3 })).rejects.toBeInstanceOf(BadArgumentsError);
  });

  it("a lease's lost$ fires when its session dies, freeing the lease for others", async () => {
    const path = freshPath();
    const proxy = await CuttableProxy.start(srv.server.port);
    try {
      const fragile = await clients.connect(proxy.connectString, 600);
      const lease = await new Semaphore(fragile, path, { maxLeases: 1 }).acquire();
      let lost: string | undefined;
      lease.lost$.subscribe((s) => (lost = s));
      const next = new Semaphore(cs[0]!, path, { maxLeases: 1 }).acquire({ timeoutMs: 15_000 });
      proxy.cut();
      const taken = await next;
      await waitFor('lost$', () => lost !== undefined);
      expect(lease.isHeld).toBe(false);
      await taken.release();
      await lease.release();
    } finally {
      await proxy.close();
    }
  });
});
