import { describe, expect, it } from 'vitest';
import { ConfigValue, nextId, SharedCounter } from '../src/index.js';
import { Fixture, LONG, waitFor, useR2Suite } from './r2-helpers.js';

const { ts, clients } = useR2Suite();

describe('ConfigValue', () => {
  it('get/set/CAS with a default value and a custom codec', async () => {
    const c = await clients.connect(ts.connectString);
    const cfg = new ConfigValue<{ n: number }>(c, '/r2/cfg/basic', { defaultValue: { n: 0 } });
    expect(await cfg.get()).toEqual({ n: 0 });
    const v0 = await cfg.getVersioned();
    expect(v0.version).toBe(-1);
    await cfg.set({ n: 1 }, { version: -1 });
    await expect(cfg.set({ n: 2 }, { version: -1 })).rejects.toMatchObject({ code: 'BADVERSION' });
    const v1 = await cfg.getVersioned();
    expect(v1).toMatchObject({ value: { n: 1 }, version: 0 });
    await expect(cfg.set({ n: 3 }, { version: 5 })).rejects.toMatchObject({ code: 'BADVERSION' });
    await cfg.set({ n: 3 }, { version: 0 });
    expect(await cfg.get()).toEqual({ n: 3 });

    const raw = new ConfigValue<string>(c, '/r2/cfg/raw', {
      codec: { encode: (s) => new TextEncoder().encode(s), decode: (b) => new TextDecoder().decode(b) },
    });
    await expect(raw.get()).rejects.toMatchObject({ code: 'NONODE' });
    await raw.set('plain text');
    expect(await raw.get()).toBe('plain text');
  });

  it('1000 rapid updates from 4 writers: every subscriber sees versions in order and ends at the last value', async () => {
    const path = '/r2/cfg/rapid';
    const writers = await Promise.all(
      Array.from(
        { length: 4 },
        async () =>
          new ConfigValue<number>(await clients.connect(ts.connectString), path, { defaultValue: 0 }),
      ),
    );
    const subscribers = await Promise.all(
      Array.from(
        { length: 3 },
        async () =>
          new ConfigValue<number>(await clients.connect(ts.connectString), path, { defaultValue: 0 }),
      ),
    );
    const seen: { version: number; value: number }[][] = subscribers.map(() => []);
    const subs = subscribers.map((s, i) =>
      s.versioned$.subscribe((v) => seen[i]!.push({ version: v.version, value: v.value })),
    );
    // 1000 increments through CAS loops: the final value proves no update was lost.
    await Promise.all(
      writers.map(async (w) => {
        for (let i = 0; i < 250; i++) await w.update((n) => n + 1);
      }),
    );
    expect(await writers[0]!.get()).toBe(1000);
    for (const s of seen) {
      await waitFor('subscriber reaches 1000', () => s.at(-1)?.value === 1000);
      for (let i = 1; i < s.length; i++) {
        expect(s[i]!.version).toBeGreaterThan(s[i - 1]!.version);
        expect(s[i]!.value).toBeGreaterThan(s[i - 1]!.value);
      }
    }
    console.log(`config: subscribers saw ${seen.map((s) => s.length)} of 1001 versions`);
    for (const s of subs) s.unsubscribe();
  }, 120_000);

  it('value$ survives a server restart and keeps delivering changes', async () => {
    const path = '/r2/cfg/restart';
    const watcherClient = await clients.connect(ts.connectString, 10_000);
    const cfg = new ConfigValue<string>(watcherClient, path, { defaultValue: 'none' });
    const values: string[] = [];
    const errors: unknown[] = [];
    const sub = cfg.value$.subscribe({ next: (v) => values.push(v), error: (e) => errors.push(e) });
    await cfg.set('before');
    await waitFor('before seen', () => values.at(-1) === 'before');
    await ts.restart();
    const writer = new ConfigValue<string>(await clients.connect(ts.connectString), path);
    await writer.set('after');
    await waitFor('after seen', () => values.at(-1) === 'after', 30_000);
    expect(errors).toEqual([]);
    expect(values.indexOf('before')).toBeLessThan(values.indexOf('after'));
    sub.unsubscribe();
  }, 60_000);
});

describe('SharedCounter', () => {
  it('add/get/value$ in process', async () => {
    const c = await clients.connect(ts.connectString);
    const counter = new SharedCounter(c, '/r2/counter/a');
    expect(await counter.get()).toBe(0);
    const seen: number[] = [];
    const sub = counter.value$.subscribe((v) => seen.push(v));
    expect(await counter.add(5)).toBe(5);
    expect(await counter.add(-2)).toBe(3);
    await waitFor('value$ at 3', () => seen.at(-1) === 3);
    expect(seen[0]).toBe(0);
    sub.unsubscribe();
  });

  it(`8 processes × ${LONG ? 500 : 100} increments give the exact total`, async () => {
    const per = LONG ? 500 : 100;
    const path = '/r2/counter/mp';
    const started = Date.now();
    const workers = await Promise.all(
      Array.from({ length: 8 }, () =>
        Fixture.spawn({ role: 'count', connectString: ts.connectString, path, count: per }),
      ),
    );
    await Promise.all(workers.map((w) => w.line((l) => l.event === 'counted', 240_000)));
    for (const w of workers) expect(await w.exited).toBe(0);
    const c = await clients.connect(ts.connectString);
    expect(await new SharedCounter(c, path).get()).toBe(8 * per);
    console.log(`counter: 8 × ${per} increments in ${Date.now() - started} ms`);
  }, 300_000);
});

describe('nextId', () => {
  it('gives unique, increasing ids across clients', async () => {
    const a = await clients.connect(ts.connectString);
    const b = await clients.connect(ts.connectString);
    const ids: number[] = [];
    let last = -1;
    for (let i = 0; i < 20; i++) {
      const id = await nextId(i % 2 === 0 ? a : b, '/r2/ids/orders');
      expect(id).toBeGreaterThan(last);
      last = id;
      ids.push(id);
    }
    const concurrent = await Promise.all(
      Array.from({ length: 50 }, (_, i) => nextId(i % 2 ? a : b, '/r2/ids/orders')),
    );
    const all = [...ids, ...concurrent];
    expect(new Set(all).size).toBe(all.length);
    expect(Math.min(...concurrent)).toBeGreaterThan(last);
  });
});
