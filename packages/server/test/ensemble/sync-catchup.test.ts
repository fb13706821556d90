import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
// The server package does not depend on the client; the test imports its sources directly.
import { type ConclaveClient, connect } from '../../../client/src/index.js';
import type { MemberStatus } from '../../src/ensemble/index.js';
import type { LocalEnsemble } from '../../src/testing/ensemble/index.js';
import { useEnsemble } from './fixture.js';

/**
 * How a member that was down catches up, with small quorum bounds standing in for production's
 * (queue 1 MiB instead of 64 MiB, SNAP chunks 256 KiB):
 * - with its data directory lost: a SNAP of a ~7 MiB database (the whole log would cost more than
 *   a third of a snapshot: ZooKeeper's snapshotSizeFactor), many times the queue bound. It used to
 *   be one frame: right after it the socket buffer held the whole snapshot, the next message to
 *   that peer tripped the bound and the link was dropped, forever;
 * - behind the leader's in-memory window (500 txns) but within its log on disk: a DIFF streamed
 *   from the log (it used to be a full SNAP).
 */
const QUEUE_BYTES = 1024 * 1024;
// 1200 txns: far past the leader's in-memory window (500), and the log beyond it is over a third
// of the database, so the member that lost everything gets a SNAP.
const NODES = 1200;
const NODE_BYTES = 6 * 1024;

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function clientOf(ens: LocalEnsemble, id: number): Promise<ConclaveClient> {
  const m = ens.members.find((x) => x.id === id)!;
  return connect(`127.0.0.1:${m.clientPort}`, { sessionTimeoutMs: 10_000 });
}

/** Deterministic, incompressible-looking bytes (xorshift), so the snapshot really is this big. */
function payload(i: number): Uint8Array {
  const b = new Uint8Array(NODE_BYTES);
  let x = (i + 1) * 0x9e3779b1;
  for (let k = 0; k < b.length; k++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[k] = x & 0xff;
  }
  return b;
}

describe('catching up far behind, with small quorum bounds (3 real processes)', () => {
  const fx = useEnsemble({
    size: 3,
    // Generous ticks: initLimit (10 ticks) must cover the transfer on a busy 2-core CI box.
    tickMs: 500,
    quorum: { maxQueuedBytes: QUEUE_BYTES, snapChunkBytes: 256 * 1024 },
    ...(process.env.ENS_DEBUG ? { logLevel: 'debug' } : {}),
  });
  const { clients } = fx;

  const status = async (id: number) => (await fx.ens.status(id)) as MemberStatus | undefined;
  /** Waits until `id` serves under `leader` at the leader's applied zxid. */
  const caughtUp = (id: number, leader: number, how: 'diff' | 'snap') =>
    waitFor(
      `member ${id} to be synced by ${how} and caught up`,
      async () => {
        const [f, l] = await Promise.all([status(id), status(leader)]);
        if (f === undefined || l === undefined || !f.serving || f.leaderId !== leader) return undefined;
        if (f.synced[how] < 1 || f.lastAppliedZxid !== l.lastAppliedZxid) return undefined;
        return f;
      },
      120_000,
    );

  it('a follower that lost its data rejoins through a chunked SNAP and serves the data', async () => {
    const ens = fx.ens;
    const leader = await ens.waitForLeader(30_000);
    const behind = ens.members.find((m) => m.id !== leader)!.id;
    await ens.stop(behind);
    await rm(ens.members.find((m) => m.id === behind)!.dataDir, { recursive: true, force: true });

    const lc = await clientOf(ens, leader);
    clients.push(lc);
    await lc.create('/big');
    for (let i = 0; i < NODES; i += 25) {
      const batch: Promise<unknown>[] = [];
      for (let j = i; j < Math.min(NODES, i + 25); j++) {
        batch.push(lc.create(`/big/n${String(j).padStart(4, '0')}`, payload(j)));
      }
      await Promise.all(batch);
    }

    await ens.restart(behind);
    // Writes while the follower syncs: they queue behind the snapshot stream, in order.
    const during = (async () => {
      for (let k = 0; k < 20; k++) await lc.create(`/during-${k}`);
    })();
    const f = await caughtUp(behind, leader, 'snap');
    await during;
    expect(f.synced.snap).toBeGreaterThanOrEqual(1);

    // The follower serves what it got through the snapshot and what came after it.
    const fc = await clientOf(ens, behind);
    clients.push(fc);
    await fc.sync('/');
    expect((await fc.getChildren('/big')).children.length).toBe(NODES);
    for (const j of [0, 599, NODES - 1]) {
      const { data } = await fc.getData(`/big/n${String(j).padStart(4, '0')}`);
      expect(Buffer.from(data).equals(Buffer.from(payload(j)))).toBe(true);
    }
    expect(await fc.exists('/during-19')).not.toBeNull();
  }, 240_000);

  it('a follower behind the in-memory window gets a DIFF from the log, not a SNAP', async () => {
    const ens = fx.ens;
    const leader = await ens.waitForLeader(30_000);
    const behind = ens.members.find((m) => m.id !== leader)!.id;
    await ens.stop(behind);
    const lc = await clientOf(ens, leader);
    clients.push(lc);
    await lc.create('/d');
    // 700 txns (> the 500 kept in memory), ~1.4 MiB: more than the queue bound as well.
    const data = new Uint8Array(2000).fill(7);
    for (let i = 0; i < 700; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) => lc.create(`/d/n${String(i + j).padStart(4, '0')}`, data)),
      );
    }
    await ens.restart(behind);
    const f = await caughtUp(behind, leader, 'diff');
    expect(f.synced.snap).toBe(0);
    const fc = await clientOf(ens, behind);
    clients.push(fc);
    expect((await fc.getChildren('/d')).children.length).toBe(700);
    expect((await fc.getData('/d/n0000')).data.length).toBe(2000);
  }, 240_000);
});
