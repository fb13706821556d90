import { CreateMode } from '@conclave/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConclaveClient, connect } from '../../../client/src/index.js';
import { type LocalEnsemble, startEnsemble } from '../../src/testing/ensemble/index.js';

/**
 * startEnsemble as a user's test calls it: no `entry` (the package's build is found from the
 * sources under vitest, which defines __dirname for ESM modules too), waitForAllServing after a
 * member comes back, and the leader's maintenance task reaping a TTL node and an empty container
 * on every member.
 */
describe('startEnsemble defaults and helpers', () => {
  let ens: LocalEnsemble;
  const clients: ConclaveClient[] = [];

  beforeAll(async () => {
    ens = await startEnsemble({ size: 3, tickMs: 100, cleanupIntervalMs: 200 });
    await ens.waitForAllServing(30_000);
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await ens?.close();
  }, 60_000);

  /** A client on exactly one member. */
  const on = async (id: number): Promise<ConclaveClient> => {
    const m = ens.members.find((x) => x.id === id)!;
    const c = await connect(`127.0.0.1:${m.clientPort}`, { sessionTimeoutMs: 6000 });
    clients.push(c);
    return c;
  };

  it('waitForAllServing waits for a restarted member to serve under the leader again', async () => {
    const leader = await ens.waitForLeader(30_000);
    const follower = ens.members.find((m) => m.id !== leader)!.id;
    await ens.kill(follower);
    await ens.restart(follower);
    const lead = await ens.waitForAllServing(30_000);
    for (const m of ens.members) {
      const st = await ens.status(m.id);
      expect(st?.serving).toBe(true);
      expect(m.id === lead || st?.leaderId === lead).toBe(true);
    }
    // Serving means answering: a write through the restarted member is read back there.
    const c = await on(follower);
    await c.create('/after-restart', 'x');
    expect(new TextDecoder().decode((await c.getData('/after-restart')).data)).toBe('x');
  });

  it('TTL nodes and empty containers are reaped once, on every member', async () => {
    const ids = ens.members.map((m) => m.id);
    const writer = await on(ids[0]!);
    await writer.create('/ttl', 'short', { mode: CreateMode.PERSISTENT_WITH_TTL, ttlMs: 300 });
    await writer.create('/keep', 'long', { mode: CreateMode.PERSISTENT_WITH_TTL, ttlMs: 3_600_000 });
    await writer.create('/box', '', { mode: CreateMode.CONTAINER });
    await writer.create('/box/item', '');
    await writer.delete('/box/item');
    const readers = await Promise.all(ids.map(on));
    const deadline = Date.now() + 20_000;
    for (const r of readers) {
      for (;;) {
        await r.sync('/');
        const [ttl, box] = await Promise.all([r.exists('/ttl'), r.exists('/box')]);
        if (ttl === null && box === null) break;
        if (Date.now() > deadline) throw new Error('TTL node or container not reaped within 20 s');
        await new Promise((res) => setTimeout(res, 100));
      }
      expect(await r.exists('/keep')).not.toBeNull();
    }
  });
});
