import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeZxid, type TxnEntry, zxidEpoch } from '@conclave/core';
import { describe, expect, it } from 'vitest';
import { Storage } from '../../src/log/index.js';
import { LocalReplicator } from '../../src/server/local-replicator.js';
import { TokenSettler } from '../../src/server/token-settler.js';
import { ExpiryQueue } from '../../src/session/expiry-queue.js';
import { SessionIdGenerator } from '../../src/session/session-id.js';
import { SessionTracker } from '../../src/session/session-tracker.js';

describe('ExpiryQueue', () => {
  it('expires items in interval buckets, never early, at most one interval late', () => {
    const q = new ExpiryQueue<string>(100, 0);
    expect(q.update('a', 250, 0)).toBe(300);
    q.update('b', 250, 40); // 290 -> bucket 300
    q.update('c', 1000, 0);
    expect(q.poll(299)).toEqual([]);
    expect(q.poll(300).sort()).toEqual(['a', 'b']);
    q.update('c', 1000, 200); // touched: moves to 1300
    expect(q.poll(1200)).toEqual([]);
    expect(q.waitMs(1200)).toBe(100);
    expect(q.poll(1300)).toEqual(['c']);
    expect(q.size).toBe(0);
  });

  it('remove takes an item out of its bucket', () => {
    const q = new ExpiryQueue<number>(10, 0);
    q.update(1, 5, 0);
    expect(q.remove(1)).toBe(true);
    expect(q.remove(1)).toBe(false);
    expect(q.poll(100)).toEqual([]);
  });
});

describe('SessionTracker', () => {
  it('touch extends the lease; closing sessions neither expire nor accept touches', () => {
    const t = new SessionTracker(100, 0);
    t.add(1n, 400, 0);
    t.add(2n, 400, 0);
    expect(t.touch(1n, 300)).toBe(true);
    expect(t.expire(500)).toEqual([2n]);
    expect(t.get(2n)?.closing).toBe(true);
    expect(t.touch(2n, 500)).toBe(false);
    t.setClosing(1n);
    expect(t.expire(10_000)).toEqual([]);
    t.remove(1n);
    t.remove(2n);
    expect(t.size).toBe(0);
  });
});

describe('SessionIdGenerator', () => {
  it('puts the member id in the high byte and never repeats', () => {
    const g = new SessionIdGenerator(1, Date.now());
    const a = g.nextId();
    const b = g.nextId();
    expect(a >> 56n).toBe(1n);
    expect(b).toBe(a + 1n);
    const later = new SessionIdGenerator(1, Date.now() + 1000).nextId();
    expect(later > b).toBe(true);
  });
});

describe('TokenSettler', () => {
  it('settles only the longest finished prefix of tokens', () => {
    const settled: number[] = [];
    const s = new TokenSettler((t) => settled.push(t));
    s.finished(2);
    s.finished(3);
    expect(settled).toEqual([]);
    expect(s.waiting).toBe(2);
    s.finished(1);
    expect(settled).toEqual([3]);
    s.finished(4);
    expect(settled).toEqual([3, 4]);
    expect(() => s.finished(2)).toThrow(/invariant/);
  });
});

describe('LocalReplicator', () => {
  it('starts a new epoch above every epoch seen, commits in zxid order once durable, and sync waits', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conclave-repl-'));
    try {
      const storage = await Storage.open({ dir, fsync: false });
      await storage.writeAcceptedEpoch(4);
      await storage.writeCurrentEpoch(3);
      const r = new LocalReplicator(storage, makeZxid(2, 17));
      const committed: TxnEntry[] = [];
      await r.start({
        commit: (e) => committed.push(e),
        fail: (e) => {
          throw e;
        },
      });
      expect(r.currentEpoch).toBe(5);
      expect(await storage.readEpochs()).toEqual({ acceptedEpoch: 5, currentEpoch: 5 });
      for (let i = 0; i < 20; i++)
        r.propose({ sessionId: 1n, cxid: i, time: 0, txn: { type: 'error', err: -101 } });
      expect(r.pending).toBe(20);
      await r.sync();
      expect(committed.map((e) => e.cxid)).toEqual([...Array(20).keys()]);
      expect(committed.every((e) => zxidEpoch(e.zxid) === 5)).toBe(true);
      expect(committed[0]!.zxid).toBe(makeZxid(5, 1));
      expect(storage.lastZxid).toBe(makeZxid(5, 20));
      await r.close();
      await storage.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
