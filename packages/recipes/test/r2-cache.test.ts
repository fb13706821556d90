import { describe, expect, it } from 'vitest';
import { type CacheEvent, NodeCache, TreeCache } from '../src/index.js';
import { CutProxy, text, useR2Suite, waitFor } from './r2-helpers.js';

const { ts, clients } = useR2Suite();

const describeEvent = (e: CacheEvent) => (e.type === 'initialized' ? 'initialized' : `${e.type} ${e.path}`);

describe('NodeCache', () => {
  it('reports added/updated/removed/initialized and serves current()', async () => {
    const c = await clients.connect(ts.connectString);
    const cache = new NodeCache(c, '/r2/nc/a');
    const events: string[] = [];
    cache.events$.subscribe({ next: (e) => events.push(describeEvent(e)), error: () => {} });
    await cache.start();
    expect(events).toEqual(['initialized']);
    expect(cache.current()).toBeUndefined();
    await c.create('/r2', '').catch(() => {});
    await c.create('/r2/nc', '');
    await c.create('/r2/nc/a', 'one');
    await waitFor('added', () => events.includes('added /r2/nc/a'));
    await c.setData('/r2/nc/a', 'two');
    await waitFor('updated', () => text(cache.current()?.data ?? new Uint8Array()) === 'two');
    expect(events).toContain('updated /r2/nc/a');
    await c.delete('/r2/nc/a');
    await waitFor('removed', () => events.includes('removed /r2/nc/a'));
    expect(cache.current()).toBeUndefined();
    // A late subscriber gets the current picture first.
    await c.create('/r2/nc/a', 'three');
    await waitFor('re-added', () => cache.current() !== undefined);
    const late: string[] = [];
    cache.events$.subscribe((e) => late.push(describeEvent(e))).unsubscribe();
    expect(late).toEqual(['added /r2/nc/a', 'initialized']);
    cache.close();
  });
});

describe('TreeCache', () => {
  it('mirrors a subtree (respecting depth) and is rebuilt after a reconnect', async () => {
    const writer = await clients.connect(ts.connectString);
    await writer.create('/r2', '').catch(() => {});
    await writer.create('/r2/tc', 'root');
    await writer.create('/r2/tc/a', 'A');
    await writer.create('/r2/tc/a/deep', 'D');
    await writer.create('/r2/tc/a/deep/deeper', 'X');
    const proxy = await CutProxy.start(ts.server.port);
    try {
      const c = await clients.connect(proxy.connectString, 10_000);
      const cache = new TreeCache(c, '/r2/tc', { depth: 2 });
      const events: string[] = [];
      cache.events$.subscribe({ next: (e) => events.push(describeEvent(e)), error: () => {} });
      await cache.start();
      expect([...cache.current().keys()].sort()).toEqual(['/r2/tc', '/r2/tc/a', '/r2/tc/a/deep']);
      expect(events.at(-1)).toBe('initialized');
      expect(cache.children('/r2/tc')).toEqual(['a']);

      await writer.create('/r2/tc/b', 'B');
      await writer.setData('/r2/tc/a', 'A2');
      await waitFor(
        'b added and a updated',
        () => cache.get('/r2/tc/b') !== undefined && text(cache.get('/r2/tc/a')!.data) === 'A2',
      );
      expect(events).toContain('added /r2/tc/b');
      expect(events).toContain('updated /r2/tc/a');

      // Changes made while the cache's client is disconnected are found when it reconnects.
      proxy.cut();
      await waitFor('suspended', () => c.state === 'SUSPENDED' || c.state === 'CONNECTING');
      await writer.delete('/r2/tc/a/deep/deeper');
      await writer.delete('/r2/tc/a/deep');
      await writer.create('/r2/tc/c', 'C');
      await writer.setData('/r2/tc/b', 'B2');
      events.length = 0;
      proxy.restore();
      await waitFor(
        'rebuilt',
        () =>
          cache.get('/r2/tc/a/deep') === undefined &&
          cache.get('/r2/tc/c') !== undefined &&
          text(cache.get('/r2/tc/b')!.data) === 'B2',
      );
      expect(events).toEqual(
        expect.arrayContaining(['removed /r2/tc/a/deep', 'added /r2/tc/c', 'updated /r2/tc/b']),
      );
      expect([...cache.current().keys()].sort()).toEqual(['/r2/tc', '/r2/tc/a', '/r2/tc/b', '/r2/tc/c']);
      await cache.close();
    } finally {
      await proxy.close();
    }
  }, 60_000);
});

/** `client` whose first call of `method` cuts the proxy just before it is sent (it then fails). */
function cutOnFirst<C extends object>(client: C, method: string, proxy: CutProxy): C {
  let cut = false;
  return new Proxy(client, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      if (prop === method && !cut) {
        return (...args: unknown[]) => {
          cut = true;
          proxy.cut();
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
}

describe('cache start-up across a connection loss', () => {
  async function setUp(root: string) {
    const writer = await clients.connect(ts.connectString);
    await writer.create('/r2', '').catch(() => {});
    await writer.create(root, 'root');
    await writer.create(`${root}/a`, 'A');
    const proxy = await CutProxy.start(ts.server.port);
    const c = await clients.connect(proxy.connectString, 10_000);
    const suspended = () => c.state === 'SUSPENDED';
    return { writer, proxy, c, suspended };
  }

  it('TreeCache started while SUSPENDED loads once reconnected, and its watch works', async () => {
    const { writer, proxy, c, suspended } = await setUp('/r2/tc-suspended');
    try {
      proxy.cut();
      await waitFor('suspended', suspended);
      const cache = new TreeCache(c, '/r2/tc-suspended');
      const starting = cache.start({ signal: AbortSignal.timeout(25_000) });
      proxy.restore();
      await starting;
      expect([...cache.current().keys()].sort()).toEqual(['/r2/tc-suspended', '/r2/tc-suspended/a']);
      await writer.create('/r2/tc-suspended/b', 'B');
      await waitFor('b added through the watch', () => cache.get('/r2/tc-suspended/b') !== undefined);
      await cache.close();
    } finally {
      await proxy.close();
    }
  }, 60_000);

  for (const method of ['addWatch', 'getData', 'getChildren']) {
    it(`TreeCache whose connection is cut at its first ${method} still starts`, async () => {
      const root = `/r2/tc-cut-${method}`;
      const { writer, proxy, c, suspended } = await setUp(root);
      try {
        const cache = new TreeCache(cutOnFirst(c, method, proxy), root);
        const events: string[] = [];
        cache.events$.subscribe({ next: (e) => events.push(describeEvent(e)), error: () => {} });
        const starting = cache.start({ signal: AbortSignal.timeout(25_000) });
        await waitFor('suspended', suspended);
        proxy.restore();
        await starting;
        expect(events.filter((e) => e === 'initialized')).toHaveLength(1);
        expect(cache.get(`${root}/a`)).toBeDefined();
        await writer.create(`${root}/b`, 'B');
        await waitFor('b added through the watch', () => cache.get(`${root}/b`) !== undefined);
        await cache.close();
      } finally {
        await proxy.close();
      }
    }, 60_000);
  }

  it('TreeCache.start({ signal }) aborted while disconnected rejects with the reason and closes', async () => {
    const { proxy, c, suspended } = await setUp('/r2/tc-abort');
    try {
      proxy.cut();
      await waitFor('suspended', suspended);
      const cache = new TreeCache(c, '/r2/tc-abort');
      const ac = new AbortController();
      const starting = cache.start({ signal: ac.signal });
      const reason = new Error('gave up');
      ac.abort(reason);
      await expect(starting).rejects.toBe(reason);
      proxy.restore();
      await expect(cache.start()).rejects.toMatchObject({ code: 'APIERROR' }); // closed
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it('NodeCache started while SUSPENDED loads once reconnected, then follows changes across a reconnect', async () => {
    const { writer, proxy, c, suspended } = await setUp('/r2/nc-reconnect');
    try {
      proxy.cut();
      await waitFor('suspended', suspended);
      const cache = new NodeCache(c, '/r2/nc-reconnect/a');
      const events: string[] = [];
      cache.events$.subscribe({ next: (e) => events.push(describeEvent(e)), error: () => {} });
      const starting = cache.start({ signal: AbortSignal.timeout(25_000) });
      proxy.restore();
      await starting;
      expect(text(cache.current()!.data)).toBe('A');
      proxy.cut();
      await waitFor('suspended again', suspended);
      await writer.setData('/r2/nc-reconnect/a', 'A2');
      proxy.restore();
      await waitFor('updated after the reconnect', () => text(cache.current()!.data) === 'A2');
      await writer.delete('/r2/nc-reconnect/a');
      await waitFor('removed', () => cache.current() === undefined);
      expect(events).toEqual([
        'added /r2/nc-reconnect/a',
        'initialized',
        'updated /r2/nc-reconnect/a',
        'removed /r2/nc-reconnect/a',
      ]);
      cache.close();
    } finally {
      await proxy.close();
    }
  }, 60_000);
});
