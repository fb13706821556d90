import { CreateMode, ErrorCode, zxidEpoch } from '@conclave/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildServer, ensureBuilt, kill9, spawnServer } from './child.js';
import { create, tempDir, td, te, WireClient, waitFor } from './wire.js';

describe('kill -9 and restart on the same data directory', () => {
  let dir: string;
  let remove: () => Promise<void>;
  const children: ChildServer[] = [];

  beforeAll(async () => {
    ensureBuilt();
    const t = await tempDir('conclave-restart-');
    dir = t.dir;
    remove = t.remove;
  }, 180_000);
  afterAll(async () => {
    for (const c of children) await kill9(c);
    await remove?.();
  });

  it('keeps sessions, data and every acknowledged write; unclaimed sessions expire after a fresh timeout', async () => {
    const first = await spawnServer(dir, 0, 200);
    children.push(first);
    const url1 = `ws://127.0.0.1:${first.port}/`;
    // tick 200 ms: timeouts in [400, 4000] ms
    const keeper = await WireClient.session(url1, { timeoutMs: 4000 });
    const leaver = await WireClient.session(url1, { timeoutMs: 1000 });
    await keeper.request(create('/app', 'v0'));
    await keeper.request(create('/app/keeper', '', CreateMode.EPHEMERAL));
    await leaver.request(create('/app/leaver', '', CreateMode.EPHEMERAL));
    const epochBefore = zxidEpoch(keeper.frames[keeper.frames.length - 1]!.zxid);

    // A burst of writes; kill -9 while some are still in flight.
    const acked: string[] = [];
    let lastAckedData = 'v0';
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < 1000; i++) {
      inflight.push(
        keeper.request(create(`/app/n${i}`, String(i))).then((r) => {
          if (r.err === 0) acked.push(`n${i}`);
        }),
      );
      const data = `v${i + 1}`;
      inflight.push(
        keeper.request({ op: 'setData', path: '/app', data: te.encode(data), version: -1 }).then((r) => {
          if (r.err === 0) lastAckedData = data;
        }),
      );
    }
    await waitFor(() => acked.length >= 50, 20_000, '50 acknowledged creates');
    await kill9(first);
    await Promise.all(inflight);
    await keeper.onClose();
    await leaver.onClose();
    expect(acked.length).toBeGreaterThanOrEqual(50);
    // Usually some writes were still in flight when the process died; they may or may not be
    // there after the restart, but every acknowledged one must be.

    const second = await spawnServer(dir, 0, 200);
    children.push(second);
    const url2 = `ws://127.0.0.1:${second.port}/`;
    const back = await WireClient.open(url2);
    const r = await back.handshake({ sessionId: keeper.sessionId, password: keeper.connect!.password });
    expect(r.err).toBe(0);
    expect(r.timeoutMs).toBe(4000);
    expect((await back.request({ op: 'exists', path: '/app/keeper', watch: false })).err).toBe(0);
    const kids = (await back.request({ op: 'getChildren', path: '/app', watch: false })).children as string[];
    for (const name of acked) expect(kids).toContain(name);
    // data is the last acknowledged value or a later one that was durable but not yet acknowledged
    const data = td.decode(
      (await back.request({ op: 'getData', path: '/app', watch: false })).data as Uint8Array,
    );
    expect(Number(data.slice(1))).toBeGreaterThanOrEqual(Number(lastAckedData.slice(1)));
    // a new leader epoch
    const w = await back.request(create('/after-restart'));
    expect(zxidEpoch(w.zxid)).toBe(epochBefore + 1);

    // the session nobody reclaimed gets a fresh timeout, then expires and its ephemeral goes
    await back.request({ op: 'exists', path: '/app/leaver', watch: true });
    await waitFor(
      () => back.events.some((e) => e.type === 'NodeDeleted' && e.path === '/app/leaver'),
      10_000,
      'leaver expiry',
    );
    expect((await back.request({ op: 'exists', path: '/app/leaver', watch: false })).err).toBe(
      ErrorCode.NONODE,
    );
    await back.closeSession();
  }, 120_000);
});
