import { firstValueFrom, filter } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  type CacheEvent,
  ConfigValue,
  GroupMembership,
  type HoldState,
  NodeCache,
  ServiceDiscovery,
  TreeCache,
} from '../src/index.js';
import { CutProxy, text, useR2Suite, waitFor } from './r2-helpers.js';

const { ts, clients } = useR2Suite();

/**
 * LOST is Curator's presumption after a whole session timeout without a connection; the server
 * may still hold the session (it was down too, and sessions survive its restart), and then the
 * client comes back RECONNECTED on the same session. Recipes that hold nothing must survive that,
 * and a membership or registration whose node survived must say 'held' again.
 */
describe('LOST, then RECONNECTED on the same session (server down longer than the session timeout)', () => {
  it('observables and caches keep going; membership and registration are held again', async () => {
    const writer = await clients.connect(ts.connectString);
    await writer.create('/lost', '').catch(() => {});
    await writer.create('/lost/config', JSON.stringify({ n: 1 }));
    await writer.create('/lost/tree', '');
    const c = await clients.connect(ts.connectString, 1_000);
    const sessionId = c.sessionId;

    const values: number[] = [];
    const errors: unknown[] = [];
    const onError = (e: unknown) => errors.push(e);
    const config = new ConfigValue<{ n: number }>(c, '/lost/config');
    const valueSub = config.value$.subscribe({ next: (v) => values.push(v.n), error: onError });
    const nodeCache = new NodeCache(c, '/lost/config');
    const nodeEvents: CacheEvent[] = [];
    nodeCache.events$.subscribe({ next: (e) => nodeEvents.push(e), error: onError });
    await nodeCache.start();
    const treeCache = new TreeCache(c, '/lost/tree');
    treeCache.events$.subscribe({ error: onError });
    await treeCache.start();
    const group = new GroupMembership(c, '/lost/group', { id: 'me' });
    await group.join();
    const memberIds: string[][] = [];
    const membersSub = group.members$.subscribe({
      next: (m) => memberIds.push(m.map((x) => x.id)),
      error: onError,
    });
    const groupStates: HoldState[] = [];
    group.status$.subscribe((s) => groupStates.push(s));
    const discovery = new ServiceDiscovery(c, '/lost/services');
    const reg = await discovery.register({ name: 'api', id: 'api-1', address: '127.0.0.1', port: 1 });
    const regStates: HoldState[] = [];
    reg.status$.subscribe((s) => regStates.push(s));
    const instancesSub = discovery.instances$('api').subscribe({ error: onError });
    await waitFor('first value', () => values.length === 1 && memberIds.length > 0);

    await ts.restart(() => waitFor('the client to presume its session LOST', () => c.state === 'LOST'));
    await waitFor('RECONNECTED on the same session', () => c.state === 'RECONNECTED', 30_000);
    expect(c.sessionId).toBe(sessionId);

    await writer.setData('/lost/config', JSON.stringify({ n: 2 }));
    await writer.create('/lost/tree/new', 'x');
    await waitFor('value$ sees the change', () => values.at(-1) === 2);
    await waitFor(
      'NodeCache sees the change',
      () => text(nodeCache.current()?.data ?? new Uint8Array()) === '{"n":2}',
    );
    await waitFor('TreeCache sees the change', () => treeCache.get('/lost/tree/new') !== undefined);
    await waitFor('membership held again', () => groupStates.at(-1) === 'held');
    await waitFor('registration held again', () => regStates.at(-1) === 'held');
    expect(groupStates).toContain('lost');
    expect(regStates).toContain('lost');
    expect(memberIds.at(-1)).toEqual(['me']);
    expect(await firstValueFrom(discovery.instances$('api').pipe(filter((l) => l.length > 0)))).toHaveLength(
      1,
    );
    expect(errors).toEqual([]);

    valueSub.unsubscribe();
    membersSub.unsubscribe();
    instancesSub.unsubscribe();
    nodeCache.close();
    await treeCache.close();
    await reg.unregister();
    await group.leave();
  }, 60_000);

  it('EXPIRED still ends them, and a membership stays lost', async () => {
    const writer = await clients.connect(ts.connectString);
    await writer.create('/lost2', '0');
    const proxy = await CutProxy.start(ts.server.port);
    try {
      const c = await clients.connect(proxy.connectString, 1_000);
      const config = new ConfigValue<number>(c, '/lost2', { defaultValue: 0 });
      const ended = new Promise<unknown>((resolve) => config.value$.subscribe({ error: resolve }));
      const cache = new TreeCache(c, '/lost2');
      await cache.start();
      const cacheEnded = new Promise<unknown>((resolve) => cache.events$.subscribe({ error: resolve }));
      const group = new GroupMembership(c, '/lost2/group', { id: 'me' });
      await group.join();
      const groupStates: HoldState[] = [];
      group.status$.subscribe((s) => groupStates.push(s));
      // Only the client is cut off: the server expires the session (its ephemeral goes), and the
      // client, on its way back, hears EXPIRED.
      proxy.cut();
      await waitFor('LOST', () => c.state === 'LOST');
      await waitFor(
        'the server to expire the session',
        async () => (await writer.exists('/lost2/group/me')) === null,
      );
      proxy.restore();
      await waitFor('EXPIRED', () => c.state === 'EXPIRED', 30_000);
      expect((await ended) as Error).toMatchObject({ code: 'SESSIONEXPIRED' });
      expect((await cacheEnded) as Error).toMatchObject({ code: 'SESSIONEXPIRED' });
      expect(groupStates.at(-1)).toBe('lost');
      await cache.close();
    } finally {
      await proxy.close();
    }
  }, 60_000);
});
