import { BadArgumentsError } from '@conclave/core';
import { describe, expect, it } from 'vitest';
import { DelayQueue, DistributedQueue, PriorityQueue } from '../src/index.js';
import { CutProxy, Fixture, LONG, text, useR2Suite, waitFor } from './r2-helpers.js';

const { ts, clients } = useR2Suite();

describe('DistributedQueue', () => {
  it('is FIFO for one consumer; poll/peek/size/items$', async () => {
    const c = await clients.connect(ts.connectString);
    const q = new DistributedQueue(c, '/r2/q/fifo');
    expect(await q.poll()).toBeNull();
    expect(await q.peek()).toBeNull();
    const seen: string[][] = [];
    const sub = q.items$.subscribe((items) => seen.push(items));
    for (let i = 0; i < 5; i++) await q.offer(`item-${i}`);
    expect(await q.size()).toBe(5);
    expect(text((await q.peek())!)).toBe('item-0');
    await waitFor('items$ shows 5', () => seen.at(-1)?.length === 5);
    const out: string[] = [];
    for (let i = 0; i < 5; i++) out.push(text(await q.take()));
    expect(out).toEqual(['item-0', 'item-1', 'item-2', 'item-3', 'item-4']);
    expect(await q.poll()).toBeNull();
    await waitFor('items$ shows empty', () => seen.at(-1)?.length === 0);
    sub.unsubscribe();
  });

  it('take() blocks until an item is offered, and times out', async () => {
    const c = await clients.connect(ts.connectString);
    const q = new DistributedQueue(c, '/r2/q/block');
    await expect(q.take({ timeoutMs: 100 })).rejects.toMatchObject({ code: 'OPERATIONTIMEOUT' });
    const taking = q.take();
    const other = new DistributedQueue(await clients.connect(ts.connectString), '/r2/q/block');
    await other.offer('late');
    expect(text(await taking)).toBe('late');
  });

  it('hands every item to exactly one of 4 concurrent in-process consumers', async () => {
    const path = '/r2/q/inproc';
    const producer = new DistributedQueue(await clients.connect(ts.connectString), path);
    const consumers = await Promise.all(
      Array.from(
        { length: 4 },
        async () => new DistributedQueue(await clients.connect(ts.connectString), path),
      ),
    );
    const n = 200;
    await Promise.all(Array.from({ length: n }, (_, i) => producer.offer(String(i))));
    const taken = await Promise.all(
      consumers.map(async (q) => {
        const mine: string[] = [];
        for (let item = await q.poll(); item !== null; item = await q.poll()) mine.push(text(item));
        return mine;
      }),
    );
    const all = taken.flat();
    expect(all.length).toBe(n);
    expect(new Set(all).size).toBe(n);
  });

  it(`4 producer × 4 consumer processes: ${LONG ? '10000' : '2000'} items, each consumed exactly once`, async () => {
    const total = LONG ? 10_000 : 2_000;
    const path = '/r2/q/mp';
    const donePath = '/r2/q/mp-done';
    const base = { connectString: ts.connectString, path, donePath };
    const consumers = await Promise.all(
      Array.from({ length: 4 }, () => Fixture.spawn({ ...base, role: 'consume' })),
    );
    const producers = await Promise.all(
      Array.from({ length: 4 }, (_, p) =>
        Fixture.spawn({ ...base, role: 'produce', id: `p${p}`, count: total / 4 }),
      ),
    );
    const started = Date.now();
    await Promise.all(producers.map((f) => f.line((l) => l.event === 'produced', 240_000)));
    const producedMs = Date.now() - started;
    const admin = await clients.connect(ts.connectString);
    await admin.create(donePath);
    const results = await Promise.all(
      consumers.map((f) =>
        f.line<{ event: string; taken: string[] }>((l) => l.event === 'consumed', 240_000),
      ),
    );
    const all = results.flatMap((r) => r.taken);
    const counts = results.map((r) => r.taken.length);
    console.log(
      `queue: ${total} items, produced in ${producedMs} ms, all consumed in ${Date.now() - started} ms; per consumer ${counts}`,
    );
    // On failure, say which items went missing and what is still under the queue path.
    const missing = Array.from(
      { length: total },
      (_, i) => `p${Math.floor(i / (total / 4))}:${i % (total / 4)}`,
    )
      .filter((id) => !all.includes(id))
      .slice(0, 10);
    const left = (await admin.getChildren(path)).children.filter((c) => !c.startsWith('tk-'));
    expect(all.length, `missing ${missing.join(', ')}; left in the queue: ${left.join(', ')}`).toBe(total);
    expect(new Set(all).size).toBe(total);
    for (const f of [...consumers, ...producers]) expect(await f.exited).toBe(0);
  }, 300_000);
});

describe('PriorityQueue', () => {
  it('takes lowest priority number first, FIFO among equals', async () => {
    const c = await clients.connect(ts.connectString);
    const q = new PriorityQueue(c, '/r2/q/prio');
    await q.offer('low-a', { priority: 10 });
    await q.offer('urgent', { priority: -5 });
    await q.offer('low-b', { priority: 10 });
    await q.offer('mid', { priority: 3 });
    await q.offer('zero');
    const out: string[] = [];
    for (let i = 0; i < 5; i++) out.push(text(await q.take()));
    expect(out).toEqual(['urgent', 'zero', 'mid', 'low-a', 'low-b']);
  });

  it('a blocked consumer sees a more urgent item offered after its first listing', async () => {
    const c = await clients.connect(ts.connectString);
    const q = new PriorityQueue(c, '/r2/q/prio2');
    await q.offer('b', { priority: 5 });
    expect(text(await q.take())).toBe('b');
    await q.offer('c', { priority: 5 });
    await q.offer('a', { priority: 1 });
    expect(text(await q.take())).toBe('a');
    await expect(q.offer('x', { priority: 1.5 })).rejects.toThrow(BadArgumentsError);
    await expect(q.offer('x', { priority: 2 ** 31 })).rejects.toMatchObject({ code: 'BADARGUMENTS' });
  });
});

describe('DelayQueue', () => {
  it('does not hand out an item before its delay, and orders by due time', async () => {
    const c = await clients.connect(ts.connectString);
    const q = new DelayQueue(c, '/r2/q/delay');
    const t0 = Date.now();
    await q.offer('later', { delayMs: 600 });
    await q.offer('sooner', { delayMs: 300 });
    expect(await q.poll()).toBeNull();
    expect(await q.size()).toBe(2);
    const first = text(await q.take());
    const firstAt = Date.now() - t0;
    const second = text(await q.take());
    const secondAt = Date.now() - t0;
    expect([first, second]).toEqual(['sooner', 'later']);
    expect(firstAt).toBeGreaterThanOrEqual(300);
    expect(secondAt).toBeGreaterThanOrEqual(600);
  });
});

describe('DistributedQueue under connection loss', () => {
  it('offers and takes through a connection cut again and again: nothing lost, nothing twice', async () => {
    const path = '/r2/q/cuts';
    const proxy = await CutProxy.start(ts.server.port);
    try {
      const flaky = new DistributedQueue(await clients.connect(proxy.connectString, 10_000), path);
      const steady = new DistributedQueue(await clients.connect(ts.connectString), path);
      const n = 300;
      // Cut the flaky client's connection every few completed operations, while others are in
      // flight: their replies are lost and the recipes must sort out what was applied.
      let done = 0;
      const tick = () => {
        if (++done % 25 === 0) {
          proxy.cut();
          proxy.restore();
        }
      };
      // Four sequential chains on the flaky client keep a few offers in flight at every cut.
      const offers: Promise<unknown>[] = [];
      for (let chain = 0; chain < 4; chain++) {
        offers.push(
          (async () => {
            for (let i = chain; i < n / 2; i += 4) await flaky.offer(`f${i}`).then(tick);
          })(),
        );
      }
      for (let i = 0; i < n / 2; i++) offers.push(steady.offer(`s${i}`));
      await Promise.all(offers);
      expect(await steady.size()).toBe(n);
      const taken: string[] = [];
      const consume = async (q: DistributedQueue, onTake?: () => void) => {
        for (let item = await q.poll(); item !== null; item = await q.poll()) {
          taken.push(text(item));
          onTake?.();
        }
      };
      // Concurrent takers on the flaky client so a take is often in flight during a cut.
      await Promise.all([consume(flaky, tick), consume(flaky, tick), consume(flaky, tick), consume(steady)]);
      await consume(steady);
      expect(taken.length).toBe(n);
      expect(new Set(taken).size).toBe(n);
    } finally {
      await proxy.close();
    }
  }, 120_000);
});
