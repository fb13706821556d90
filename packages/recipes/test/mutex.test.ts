import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConclaveClient } from '@conclave/client';
import { ConnectionLossError } from '@conclave/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LockTimeoutError, Mutex, SessionLostError } from '../src/index.js';
import { childrenOf, Clients, CuttableProxy, countingWatches, startTestServer, waitFor } from './helpers.js';

let srv: Awaited<ReturnType<typeof startTestServer>>;
const clients = new Clients();
let observer: ConclaveClient;
let n = 0;
const freshPath = () => `/locks/mutex-${++n}`;

beforeAll(async () => {
  srv = await startTestServer();
  observer = await clients.connect(srv.server.connectString);
});
afterEach(async () => {
  await Promise.all(clients.all.slice(1).map((c) => c.close().catch(() => {})));
  clients.all.splice(1);
});
afterAll(async () => {
  await clients.closeAll();
  await srv?.stop();
});

describe('Mutex', () => {
  it('acquires, creates a protected node under a container parent, and deletes it on release', async () => {
    const path = freshPath();
    const client = await clients.connect(srv.server.connectString);
    const mutex = new Mutex(client, path);
    const lock = await mutex.acquire();
    expect(lock.isHeld).toBe(true);
    expect(lock.node).toMatch(/^\/locks\/mutex-\d+\/_c_[0-9a-f-]{36}-lock-\d{10}$/);
    const parent = await observer.exists(path);
    expect(parent?.ephemeralOwner).toBe(-0x8000000000000000n); // CONTAINER
    expect(await childrenOf(observer, path)).toHaveLength(1);
    await lock.release();
    expect(lock.isHeld).toBe(false);
    expect(await childrenOf(observer, path)).toEqual([]);
    await lock.release(); // idempotent
    // The CONTAINER parent goes away once unused.
    await waitFor('container removed', async () => (await observer.exists(path)) === null);
  });

  it('abort while SUSPENDED: the promise rejects at once and the node goes when the session is back', async () => {
    const path = freshPath();
    const proxy = await CuttableProxy.start(srv.server.port);
    try {
      const holder = await new Mutex(observer, path).acquire();
      const flaky = await clients.connect(proxy.connectString, 10_000);
      const ac = new AbortController();
      const pending = new Mutex(flaky, path).acquire({ signal: ac.signal });
      await waitFor('waiter queued', async () => (await childrenOf(observer, path)).length === 2);
      proxy.cut();
      await waitFor('suspended', () => flaky.state === 'SUSPENDED');
      const reason = new Error('bye');
      ac.abort(reason);
      await expect(pending).rejects.toBe(reason);
      expect(await childrenOf(observer, path)).toHaveLength(2); // session lives, node not deleted yet
      proxy.restore();
      await waitFor(
        'node deleted after reconnect',
        async () => (await childrenOf(observer, path)).length === 1,
      );
      await holder.release();
    } finally {
      await proxy.close();
    }
  });

  it('is reentrant per instance (counted) and supports await using', async () => {
    const path = freshPath();
    const client = await clients.connect(srv.server.connectString);
    const mutex = new Mutex(client, path);
    {
      await using outer = await mutex.acquire();
      const inner = await mutex.acquire({ timeoutMs: 1_000 });
      expect(inner.node).toBe(outer.node);
      expect(mutex.holdCount).toBe(2);
      await inner.release();
      expect(mutex.isHeld).toBe(true);
      expect(await childrenOf(observer, path)).toHaveLength(1);
    }
    expect(mutex.isHeld).toBe(false);
    expect(await childrenOf(observer, path)).toEqual([]);
  });

  it('grants the lock in arrival order (fair)', async () => {
    const path = freshPath();
    const client = await clients.connect(srv.server.connectString);
    const holder = await new Mutex(client, path).acquire();
    const order: number[] = [];
    const waiters: Promise<void>[] = [];
    for (let i = 0; i < 6; i++) {
      const c = i % 2 === 0 ? client : await clients.connect(srv.server.connectString);
      waiters.push(
        new Mutex(c, path).acquire().then(async (h) => {
          order.push(i);
          await h.release();
        }),
      );
      // Arrival = our node is in the queue before the next contender starts.
      await waitFor(`waiter ${i} queued`, async () => (await childrenOf(observer, path)).length === i + 2);
    }
    await holder.release();
    await Promise.all(waiters);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('times out with LockTimeoutError and leaves no node behind', async () => {
    const path = freshPath();
    const client = await clients.connect(srv.server.connectString);
    const holder = await new Mutex(client, path).acquire();
    const other = await clients.connect(srv.server.connectString);
    const t0 = Date.now();
    await expect(new Mutex(other, path).acquire({ timeoutMs: 150 })).rejects.toBeInstanceOf(LockTimeoutError);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(await childrenOf(observer, path)).toEqual([holder.node.split('/').pop()]);
    await holder.release();
  });

  it('rejects with the abort reason and leaves no node behind', async () => {
    const path = freshPath();
    const client = await clients.connect(srv.server.connectString);
    const holder = await new Mutex(client, path).acquire();
    const ac = new AbortController();
    const reason = new Error('user gave up');
    const pending = new Mutex(client, path).acquire({ signal: ac.signal });
    await waitFor('waiter queued', async () => (await childrenOf(observer, path)).length === 2);
    ac.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(await childrenOf(observer, path)).toHaveLength(1);
    // Already-aborted signal: rejects at once, creates nothing.
    await expect(new Mutex(client, path).acquire({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(await childrenOf(observer, path)).toHaveLength(1);
    await holder.release();
  });

  it('no herd: with 50 waiters, one release wakes exactly one waiter', async () => {
    const path = freshPath();
    const counter = { fired: 0, armed: 0 };
    const raw = await Promise.all([0, 1, 2, 3, 4].map(() => clients.connect(srv.server.connectString)));
    const counted = raw.map((c) => countingWatches(c, counter));
    const holder = await new Mutex(counted[0]!, path).acquire();
    const acquired: number[] = [];
    const handles = new Map<number, Awaited<ReturnType<Mutex['acquire']>>>();
    for (let i = 0; i < 50; i++) {
      void new Mutex(counted[i % 5]!, path).acquire().then((h) => {
        acquired.push(i);
        handles.set(i, h);
      });
    }
    await waitFor('50 waiters queued', async () => (await childrenOf(observer, path)).length === 51);
    // Every waiter has asked for its predecessor watch; one round trip per client later the
    // server has registered them all.
    await waitFor('50 predecessor watches requested', () => counter.armed === 50);
    await Promise.all(raw.map((c) => c.exists('/')));
    expect(counter.fired).toBe(0);
    await holder.release();
    await waitFor('the next waiter holds the lock', () => acquired.length === 1);
    // Notifications precede later replies on a session: after one round trip per client every
    // event this release caused has been delivered.
    await Promise.all(raw.map((c) => c.exists('/')));
    expect(counter.fired).toBe(1);
    expect(acquired).toHaveLength(1);
    // Let the rest through, one at a time: each release wakes exactly the next waiter.
    for (let k = 0; k < 50; k++) {
      await waitFor(`holder #${k}`, () => acquired.length === k + 1);
      await Promise.all(raw.map((c) => c.exists('/')));
      expect(counter.fired).toBe(k + 1);
      const handle = handles.get(acquired[k] ?? -1);
      expect(handle).toBeDefined();
      await handle?.release();
    }
    expect(new Set(acquired).size).toBe(50);
    expect(counter.fired).toBe(50);
  });

  it("a holder's session expiry fires lost$ and the next waiter acquires", async () => {
    const path = freshPath();
    const proxy = await CuttableProxy.start(srv.server.port);
    try {
      const fragile = await clients.connect(proxy.connectString, 600);
      const holder = await new Mutex(fragile, path).acquire();
      const states: string[] = [];
      holder.state$.subscribe((s) => states.push(s));
      let lostWith: string | undefined;
      holder.lost$.subscribe((s) => (lostWith = s));
      const other = await clients.connect(srv.server.connectString);
      const next = new Mutex(other, path).acquire({ timeoutMs: 15_000 });
      await waitFor('waiter queued', async () => (await childrenOf(observer, path)).length === 2);
      proxy.cut();
      const t0 = Date.now();
      const handle = await next;
      expect(Date.now() - t0).toBeLessThan(10_000);
      await waitFor('lost$ on the old holder', () => lostWith !== undefined);
      expect(['LOST', 'EXPIRED']).toContain(lostWith);
      expect(states).toEqual(['held', 'suspended', 'lost']);
      expect(holder.isHeld).toBe(false);
      await holder.release(); // harmless after loss
      await handle.release();
    } finally {
      await proxy.close();
    }
  });

  it('a waiter whose session is lost rejects with SessionLostError and leaks no node', async () => {
    const path = freshPath();
    const proxy = await CuttableProxy.start(srv.server.port);
    try {
      const holderClient = await clients.connect(srv.server.connectString);
      const holder = await new Mutex(holderClient, path).acquire();
      const fragile = await clients.connect(proxy.connectString, 600);
      const waiting = new Mutex(fragile, path).acquire();
      await waitFor('waiter queued', async () => (await childrenOf(observer, path)).length === 2);
      proxy.cut();
      await expect(waiting).rejects.toBeInstanceOf(SessionLostError);
      await waitFor(
        'expired waiter node removed',
        async () => (await childrenOf(observer, path)).length === 1,
      );
      await holder.release();
    } finally {
      await proxy.close();
    }
  });

  it('connection loss during acquire: no leaked node, no double hold', async () => {
    const path = freshPath();
    const proxy = await CuttableProxy.start(srv.server.port);
    try {
      const flaky = await clients.connect(proxy.connectString, 10_000);
      let suspensions = 0;
      flaky.state$.subscribe((s) => {
        if (s === 'SUSPENDED') suspensions++;
      });
      let inside = 0;
      let maxInside = 0;
      let acquisitions = 0;
      let stop = false;
      const work = Array.from({ length: 6 }, async () => {
        const mutex = new Mutex(flaky, path);
        while (!stop) {
          const h = await mutex.acquire({ timeoutMs: 20_000 });
          inside++;
          acquisitions++;
          maxInside = Math.max(maxInside, inside);
          await new Promise((res) => setImmediate(res));
          inside--;
          await h.release();
        }
      });
      // Cut the connection repeatedly while creates, reads and deletes are in flight.
      for (let i = 0; i < 5; i++) {
        await waitFor('reconnected', () => flaky.state === 'CONNECTED' || flaky.state === 'RECONNECTED');
        const before = acquisitions;
        await waitFor('some progress', () => acquisitions > before);
        await new Promise((res) => setTimeout(res, 1 + i * 3));
        proxy.cut();
        await waitFor('suspended', () => flaky.state === 'SUSPENDED');
        proxy.restore();
      }
      stop = true;
      await Promise.all(work);
      expect(suspensions).toBe(5);
      expect(maxInside).toBe(1);
      await waitFor('no node left', async () => (await childrenOf(observer, path)).length === 0);
    } finally {
      await proxy.close();
    }
  });

  it('a create whose reply is lost finds its own node by GUID instead of queueing twice', async () => {
    const path = freshPath();
    const client = await clients.connect(srv.server.connectString);
    let lostReplies = 0;
    // The create reaches the server and succeeds; only its reply is "lost", as on a dropped socket.
    const lossy = new Proxy(client, {
      get(target, prop) {
        if (prop === 'create') {
          return async (...args: Parameters<ConclaveClient['create']>) => {
            const created = await target.create(...args);
            if (args[0].startsWith(`${path}/`) && lostReplies++ === 0) throw new ConnectionLossError();
            return created;
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const lock = await new Mutex(lossy, path).acquire({ timeoutMs: 5_000 });
    expect(lostReplies).toBe(1);
    expect(await childrenOf(observer, path)).toEqual([lock.node.split('/').pop()]);
    await lock.release();
    expect(await childrenOf(observer, path)).toEqual([]);
  });

  it('LOST then the same session back: lost$ fired, and the zombie lock node is deleted', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'conclave-recipes-zombie-'));
    const own = await startTestServer({ dataDir });
    const port = own.server.port;
    let restarted: Awaited<ReturnType<typeof startTestServer>> | undefined;
    try {
      const path = '/locks/zombie';
      const client = await clients.connect(own.server.connectString, 1_000);
      const lock = await new Mutex(client, path).acquire();
      let lostWith: string | undefined;
      lock.lost$.subscribe((s) => (lostWith = s));
      await own.server.close();
      await waitFor('lost$', () => lostWith === 'LOST');
      restarted = await startTestServer({ port, dataDir });
      await waitFor('same session back', () => client.state === 'RECONNECTED', 20_000);
      await waitFor('zombie node deleted', async () => (await childrenOf(client, path)).length === 0);
      await lock.release(); // no-op after loss
    } finally {
      await restarted?.stop().catch(() => {});
      await own.stop().catch(() => {});
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('survives the container cleaner racing every acquire (cleanup pass every 1 ms)', async () => {
    // fsync on: slower commits widen the window in which the cleaner's delete is accepted but
    // not yet applied (a read then still sees the container a create is refused under).
    const own = await startTestServer({ cleanupIntervalMs: 1, fsync: true });
    try {
      const client = await clients.connect(own.server.connectString);
      const mutex = new Mutex(client, '/churn/deep/lock');
      for (let i = 0; i < 60; i++) {
        const lock = await mutex.acquire({ timeoutMs: 10_000 });
        await lock.release();
      }
      await waitFor('all containers cleaned up', async () => (await client.exists('/churn')) === null);
    } finally {
      await own.stop();
    }
  });

  it('server restart mid-acquire: no leaked node, no double hold', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'conclave-recipes-restart-'));
    const own = await startTestServer({ dataDir });
    const port = own.server.port;
    let restarted: Awaited<ReturnType<typeof startTestServer>> | undefined;
    try {
      const path = '/locks/restart';
      const a = await clients.connect(own.server.connectString, 20_000);
      const b = await clients.connect(own.server.connectString, 20_000);
      const holder = await new Mutex(a, path).acquire();
      const acquires = [new Mutex(a, path), new Mutex(b, path), new Mutex(b, path)].map((m) =>
        m.acquire({ timeoutMs: 25_000 }),
      );
      await own.server.close(); // mid-acquire: some creates are in flight, some queued
      restarted = await startTestServer({ port, dataDir: own.dataDir });
      await holder.release();
      const held = new Set<number>();
      let overlap = false;
      await Promise.all(
        acquires.map(async (p, i) => {
          const h = await p;
          if (held.size > 0) overlap = true;
          held.add(i);
          await new Promise((res) => setTimeout(res, 5));
          held.delete(i);
          await h.release();
        }),
      );
      expect(overlap).toBe(false);
      const check = await clients.connect(restarted.server.connectString);
      await waitFor('no node left', async () => (await childrenOf(check, path)).length === 0);
    } finally {
      await restarted?.stop().catch(() => {});
      await own.stop().catch(() => {});
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
