import { BadArgumentsError } from '@conclave/core';
import { describe, expect, it } from 'vitest';
import { Barrier, DoubleBarrier } from '../src/index.js';
import { CutProxy, childCount, Fixture, waitFor, useR2Suite } from './r2-helpers.js';

const { ts, clients } = useR2Suite();

describe('Barrier', () => {
  it('holds waiters until removed; wait() on a barrier that is down returns at once', async () => {
    const admin = await clients.connect(ts.connectString);
    const barrier = new Barrier(admin, '/r2/barrier/a');
    expect(await barrier.wait()).toBe(true);
    await barrier.set();
    await barrier.set(); // idempotent
    const waiters = await Promise.all(
      Array.from(
        { length: 4 },
        async () => new Barrier(await clients.connect(ts.connectString), '/r2/barrier/a'),
      ),
    );
    let released = 0;
    const waits = waiters.map((b) =>
      b.wait().then((ok) => {
        released++;
        return ok;
      }),
    );
    expect(await waiters[0]!.wait({ timeoutMs: 200 })).toBe(false);
    expect(released).toBe(0);
    await barrier.remove();
    expect(await Promise.all(waits)).toEqual([true, true, true, true]);
  });

  it('rejects with the signal reason on abort', async () => {
    const c = await clients.connect(ts.connectString);
    const barrier = new Barrier(c, '/r2/barrier/b');
    await barrier.set();
    const ac = new AbortController();
    const p = barrier.wait({ signal: ac.signal });
    const reason = new Error('stop');
    ac.abort(reason);
    await expect(p).rejects.toBe(reason); // the reason itself, not a wrapper
    // A reason that is not an Error is passed through as-is too.
    await expect(barrier.wait({ signal: AbortSignal.abort('plain') })).rejects.toBe('plain');
  });
});

describe('DoubleBarrier', () => {
  it('lets 5 enter together and leave together', async () => {
    const n = 5;
    const members = await Promise.all(
      Array.from(
        { length: n },
        async (_, i) =>
          new DoubleBarrier(await clients.connect(ts.connectString), '/r2/dbl/a', { count: n, id: `m${i}` }),
      ),
    );
    const log: string[] = [];
    const first = members.slice(0, n - 1).map((m, i) => m.enter().then(() => log.push(`in${i}`)));
    const observer = await clients.connect(ts.connectString);
    await waitFor('4 entered', async () => (await childCount(observer, '/r2/dbl/a')) === n - 1);
    expect(await observer.exists('/r2/dbl/a/ready')).toBeNull();
    expect(log).toEqual([]);
    await members[n - 1]!.enter();
    await Promise.all(first);
    expect(log.length).toBe(n - 1);
    const leaves = members.map((m) => m.leave());
    expect(await Promise.all(leaves)).toEqual(Array(n).fill(true));
  });
});

describe('DoubleBarrier reuse', () => {
  it("a slow leaver of one round never deletes the next round's ready", async () => {
    const path = '/r2/dbl/reuse';
    const ready = `${path}/ready`;
    // b's client parks every delete of `ready` until released: b is the slow leaver.
    let releaseParked!: () => void;
    const parked = new Promise<void>((resolve) => {
      releaseParked = resolve;
    });
    let parkedDeletes = 0;
    const bClient = await clients.connect(ts.connectString);
    const slow = new Proxy(bClient, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        if (typeof value !== 'function') return value;
        if (prop !== 'delete') return value.bind(target);
        return async (p: string, opts?: object) => {
          if (p === ready) {
            parkedDeletes++;
            await parked;
          }
          return bClient.delete(p, opts);
        };
      },
    });
    const a = new DoubleBarrier(await clients.connect(ts.connectString), path, { count: 2, id: 'a' });
    const b = new DoubleBarrier(slow, path, { count: 2, id: 'b' });
    expect(await Promise.all([a.enter(), b.enter()])).toEqual([true, true]);
    const aLeft = a.leave();
    const bLeft = b.leave();
    expect(await aLeft).toBe(true);
    const observer = await clients.connect(ts.connectString);
    await waitFor('round 1 is out', async () => (await childCount(observer, path)) === 0);

    // Round 2 on the same path, while b may still be on its way out.
    const c = new DoubleBarrier(await clients.connect(ts.connectString), path, { count: 2, id: 'c' });
    const d = new DoubleBarrier(await clients.connect(ts.connectString), path, { count: 2, id: 'd' });
    expect(await Promise.all([c.enter({ timeoutMs: 10_000 }), d.enter({ timeoutMs: 10_000 })])).toEqual([
      true,
      true,
    ]);
    const round2Ready = await observer.exists(ready);
    expect(round2Ready).not.toBeNull();
    releaseParked();
    expect(await bLeft).toBe(true);
    // Round 2's ready is still there, untouched by round 1's leaver.
    expect((await observer.exists(ready))?.czxid).toBe(round2Ready!.czxid);
    expect(parkedDeletes).toBe(0);
    expect(await Promise.all([c.leave(), d.leave()])).toEqual([true, true]);
    expect(await observer.exists(ready)).toBeNull(); // the last one out took it down
  });
});

describe('DoubleBarrier timeouts', () => {
  it('enter() that times out returns false and takes its node back', async () => {
    const c = await clients.connect(ts.connectString);
    const b = new DoubleBarrier(c, '/r2/dbl/timeout', { count: 3, id: 'lonely' });
    expect(await b.enter({ timeoutMs: 100 })).toBe(false);
    expect(await childCount(c, '/r2/dbl/timeout')).toBe(0);
    expect(() => new DoubleBarrier(c, '/r2/dbl/timeout', { count: 0, id: 'x' })).toThrow(BadArgumentsError);
    expect(() => new DoubleBarrier(c, '/r2/dbl/timeout', { count: 0, id: 'x' })).toThrow(
      /count must be an integer ≥ 1/,
    );
    expect(() => new DoubleBarrier(c, '/r2/dbl/timeout', { count: 2, id: 'ready' })).toThrow(
      BadArgumentsError,
    );
    expect(() => new DoubleBarrier(c, '/r2/dbl/timeout', { count: 2, id: 'a/b' })).toThrow(BadArgumentsError);
  });
});

describe('barriers with 8 participants, one of which dies while waiting', () => {
  it('Barrier: the one whose session expires is told (SessionExpiredError); the other 7 pass on remove()', async () => {
    const path = '/r2/barrier/eight';
    const admin2 = await clients.connect(ts.connectString);
    const admin = new Barrier(admin2, path);
    await admin.set();
    const proxy = await CutProxy.start(ts.server.port);
    try {
      const doomedClient = await clients.connect(proxy.connectString, 1_000);
      await doomedClient.create('/r2/barrier-doomed', '', { mode: 'EPHEMERAL' }); // shows the expiry
      const doomed = new Barrier(doomedClient, path);
      // Settled into a value at once, so the rejection is handled whenever it comes.
      const doomedOutcome = doomed.wait().then(
        () => 'passed',
        (err: { code?: string }) => err.code,
      );
      const live = await Promise.all(
        Array.from({ length: 7 }, async () => new Barrier(await clients.connect(ts.connectString), path)),
      );
      const waits = live.map((b) => b.wait());
      proxy.cut();
      // The server expires the silent session; the client, cut off past its session timeout,
      // reports LOST — a presumption, which does not end a wait that holds nothing — and hears
      // EXPIRED once it can reach the server again: then the wait is told.
      await waitFor('LOST', () => doomedClient.state === 'LOST');
      await waitFor(
        'the server to expire it',
        async () => (await admin2.exists('/r2/barrier-doomed')) === null,
      );
      proxy.restore();
      expect(await doomedOutcome).toBe('SESSIONEXPIRED');
      await admin.remove();
      expect(await Promise.all(waits)).toEqual(Array(7).fill(true));
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it('DoubleBarrier(count 8): a SIGKILLed participant stops counting once its session expires; a replacement completes it', async () => {
    const path = '/r2/dbl/eight';
    const observer = await clients.connect(ts.connectString);
    const victim = await Fixture.spawn({
      role: 'double-enter',
      connectString: ts.connectString,
      sessionTimeoutMs: 1_000,
      path,
      count: 8,
      id: 'victim',
    });
    await victim.line((l) => l.event === 'entering');
    await waitFor('victim entered', async () => (await observer.exists(`${path}/victim`)) !== null);
    const live = await Promise.all(
      Array.from(
        { length: 7 },
        async (_, i) =>
          new DoubleBarrier(await clients.connect(ts.connectString), path, { count: 8, id: `live${i}` }),
      ),
    );
    let passed = 0;
    const first6 = live.slice(0, 6).map((b) =>
      b.enter().then((ok) => {
        passed++;
        return ok;
      }),
    );
    await waitFor('6 live + victim waiting', async () => (await childCount(observer, path)) === 7);
    victim.kill('SIGKILL');
    await waitFor(
      'victim node gone (session expired)',
      async () => (await observer.exists(`${path}/victim`)) === null,
    );
    // 7 live participants are not 8: nobody may pass yet.
    const seventh = live[6]!.enter().then((ok) => {
      passed++;
      return ok;
    });
    await waitFor('7 live waiting', async () => (await childCount(observer, path)) === 7);
    expect(await observer.exists(`${path}/ready`)).toBeNull();
    expect(passed).toBe(0);
    const replacement = new DoubleBarrier(await clients.connect(ts.connectString), path, {
      count: 8,
      id: 'replacement',
    });
    await replacement.enter();
    expect(await Promise.all([...first6, seventh])).toEqual(Array(7).fill(true));
    const leaves = [...live, replacement].map((b) => b.leave());
    expect(await Promise.all(leaves)).toEqual(Array(8).fill(true));
    expect(await childCount(observer, path)).toBe(0);
  }, 60_000);
});
