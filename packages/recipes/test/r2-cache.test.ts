import { describe, expect, it } from 'vitest';
import { type CacheEvent, NodeCache, TreeCache } from '../src/index.js';
import { CutProxy, text, waitFor, useR2Suite } from './r2-helpers.js';

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
