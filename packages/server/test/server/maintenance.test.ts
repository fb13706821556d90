import { readdir } from 'node:fs/promises';
import { CreateMode, ErrorCode } from '@conclave/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type Server, startServer } from '../../src/index.js';
import { create, tempDir, td, WireClient, waitFor } from './wire.js';

describe('maintenance: containers, TTL nodes, snapshots', () => {
  let server: Server | undefined;
  let remove: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await server?.close();
    await remove?.();
    server = undefined;
  });

  it('deletes a container once its last child is gone, and TTL nodes past their TTL', async () => {
    const t = await tempDir();
    remove = t.remove;
    server = await startServer({ dataDir: t.dir, fsync: false });
    const c = await WireClient.session(`ws://${server.connectString}/`);
    await c.request(create('/box', '', CreateMode.CONTAINER));
    await c.request(create('/box/item'));
    await c.request(create('/fresh', '', CreateMode.CONTAINER));
    await c.request(create('/short', '', CreateMode.PERSISTENT_WITH_TTL, { ttlMs: 1 }));
    await c.request(create('/long', '', CreateMode.PERSISTENT_WITH_TTL, { ttlMs: 3_600_000 }));
    await c.request({ op: 'exists', path: '/box', watch: true });
    server.runCleanup();
    // a container with a child stays
    expect((await c.request({ op: 'exists', path: '/box', watch: false })).err).toBe(0);
    await c.request({ op: 'delete', path: '/box/item', version: -1 });
    await waitFor(
      () => server!.runCleanup() >= 0 && c.events.some((e) => e.path === '/box'),
      5000,
      'container delete',
    );
    expect(c.events.find((e) => e.path === '/box')?.type).toBe('NodeDeleted');
    expect((await c.request({ op: 'exists', path: '/box', watch: false })).err).toBe(ErrorCode.NONODE);
    // a container that never had a child stays (ZooKeeper's rule)
    expect((await c.request({ op: 'exists', path: '/fresh', watch: false })).err).toBe(0);
    await waitFor(
      async () =>
        server!.runCleanup() >= 0 &&
        (await c.request({ op: 'exists', path: '/short', watch: false })).err !== 0,
      5000,
      'TTL delete',
    );
    expect((await c.request({ op: 'exists', path: '/short', watch: false })).err).toBe(ErrorCode.NONODE);
    expect((await c.request({ op: 'exists', path: '/long', watch: false })).err).toBe(0);
    await c.closeSession();
  });

  it('snapshots every N txns, purges, and restarts from snapshot + log', async () => {
    const t = await tempDir();
    remove = t.remove;
    server = await startServer({ dataDir: t.dir, fsync: false, snapshotEveryTxns: 40, snapshotsToKeep: 2 });
    const c = await WireClient.session(`ws://${server.connectString}/`);
    for (let i = 0; i < 150; i++) await c.request(create(`/s${i}`, `d${i}`));
    const mntr = () => fetch(`${server!.adminUrl}/mntr`).then((r) => r.text());
    await waitFor(async () => /^zk_snapshots_taken [3-9]$/m.test(await mntr()), 10_000, '3 snapshots');
    await c.closeSession();
    await server.close();
    const files = await readdir(t.dir, { recursive: true });
    const snaps = files.filter((f) => /snapshot\.[0-9a-f]+$/.test(f));
    expect(snaps.length).toBeGreaterThanOrEqual(1);
    expect(snaps.length).toBeLessThanOrEqual(2);
    server = await startServer({ dataDir: t.dir, fsync: false });
    const d = await WireClient.session(`ws://${server.connectString}/`);
    for (const i of [0, 77, 149]) {
      const r = await d.request({ op: 'getData', path: `/s${i}`, watch: false });
      expect(td.decode(r.data as Uint8Array)).toBe(`d${i}`);
    }
    await d.closeSession();
  });

  it('a clean restart keeps sessions; setWatches on the new process fires what changed meanwhile', async () => {
    const t = await tempDir();
    remove = t.remove;
    server = await startServer({ dataDir: t.dir, fsync: false });
    const a = await WireClient.session(`ws://${server.connectString}/`, { timeoutMs: 20_000 });
    await a.request(create('/r1', 'x'));
    await a.request(create('/r2', 'x'));
    await a.request(create('/eph', '', CreateMode.EPHEMERAL));
    const seen = server.lastZxid;
    await server.close();
    await a.onClose();
    server = await startServer({ dataDir: t.dir, fsync: false });
    const b = await WireClient.session(`ws://${server.connectString}/`);
    await b.request({ op: 'setData', path: '/r1', data: new TextEncoder().encode('y'), version: -1 });
    const back = await WireClient.open(`ws://${server.connectString}/`);
    const r = await back.handshake({
      sessionId: a.sessionId,
      password: a.connect!.password,
      lastZxidSeen: seen,
    });
    expect(r.err).toBe(0);
    expect((await back.request({ op: 'exists', path: '/eph', watch: false })).err).toBe(0);
    await back.request({
      op: 'setWatches',
      relativeZxid: seen,
      dataWatches: ['/r1', '/r2'],
      existWatches: [],
      childWatches: [],
      persistentWatches: [],
      persistentRecursiveWatches: [],
    });
    expect(back.events.map((e) => `${e.type} ${e.path}`)).toEqual(['NodeDataChanged /r1']);
    await b.request({ op: 'delete', path: '/r2', version: -1 });
    await waitFor(() => back.events.length === 2, 5000, 're-armed watch');
    expect(back.events[1]).toMatchObject({ type: 'NodeDeleted', path: '/r2' });
    await Promise.all([back.closeSession(), b.closeSession()]);
  });
});
