import { makeZxid, zxidCounter, zxidEpoch } from '@conclave/core';
import { describe, expect, it } from 'vitest';
import { isNextZxid, type ZabMessage } from '../../src/zab/index.js';
import { Harness, labels, type TestEntry } from './harness.js';

/** The learner's private connection state, for crafting messages on its live connection. */
function learnerConn(h: Harness, id: number): { conn: number; expectSeq: number; leaderId: number } {
  return (h.node(id) as unknown as { learner: { conn: number; expectSeq: number; leaderId: number } })
    .learner;
}

function others(l: number, all: number[]): number[] {
  return all.filter((x) => x !== l);
}

describe('ZAB safety rules (one test per rule)', () => {
  it('rule: a new leader’s history contains every committed txn', () => {
    const all = [1, 2, 3, 4, 5];
    const h = new Harness(all);
    const l = h.stable();
    const [a, b, c, d] = others(l, all) as [number, number, number, number];
    // Only the bare quorum {l, a, b} sees these; c and d are cut off.
    h.partition([c, d], [l, a, b]);
    const committed = [h.propose('x1'), h.propose('x2'), h.propose('x3')];
    expect(h.node(l).committedZxid).toBe(committed[2]);
    h.heal();
    h.crash(l);
    const newLeader = h.stable(1000);
    expect([a, b]).toContain(newLeader);
    for (const id of [a, b, c, d]) {
      const zs = h.member(id).applied.map((e) => e.zxid);
      for (const z of committed) expect(zs).toContain(z);
    }
  });

  it('rule: a follower never ACKs a proposal from an epoch older than its acceptedEpoch', () => {
    const h = new Harness([1, 2, 3]);
    const l = h.stable();
    const f = others(l, [1, 2, 3])[0]!;
    const node = h.node(f);
    const { conn, expectSeq } = learnerConn(h, f);
    const accepted = node.acceptedEpoch;
    const stale: ZabMessage<TestEntry> = {
      type: 'proposal',
      from: l,
      to: f,
      conn,
      seq: expectSeq,
      epoch: accepted - 1,
      entry: { zxid: makeZxid(accepted - 1, 99), label: 'from an old leader' },
    };
    node.step(stale);
    const rd = node.ready();
    node.advance();
    expect(rd.toAppend).toEqual([]);
    expect(rd.messages.filter((m) => m.type === 'ack')).toEqual([]);
    // Control: the same proposal under the current epoch is logged and ACKed.
    const zxid = h.node(l).lastZxid;
    const fresh: ZabMessage<TestEntry> = {
      ...stale,
      epoch: accepted,
      entry: { zxid: zxidEpoch(zxid) === accepted ? zxid + 1n : makeZxid(accepted, 1), label: 'current' },
    };
    node.step(fresh);
    const rd2 = node.ready();
    node.advance();
    expect(rd2.toAppend).toHaveLength(1);
    expect(rd2.messages.filter((m) => m.type === 'ack')).toHaveLength(1);
  });

  it('rule: txns of an old epoch that were not committed are truncated', () => {
    const all = [1, 2, 3];
    const h = new Harness(all);
    const old = h.stable();
    h.propose('base');
    h.partition([old], others(old, all));
    const orphan = h.node(old).propose({ label: 'orphan' });
    expect(orphan.ok).toBe(true);
    h.pump();
    expect(labels(h.member(old).log)).toContain('orphan');
    h.until(() => h.leader() !== undefined && h.leader() !== old);
    h.propose('new epoch txn');
    h.heal();
    h.stable(1000);
    for (const id of all) {
      expect(labels(h.member(id).log)).not.toContain('orphan');
      expect(labels(h.member(id).applied)).not.toContain('orphan');
      expect(labels(h.member(id).applied)).toContain('new epoch txn');
    }
    const leaderEvents = h.member(h.leader()!).readies.flatMap((r) => r.events);
    expect(leaderEvents).toContainEqual(
      expect.objectContaining({ type: 'learnerSynced', learner: old, how: 'trunc' }),
    );
  });

  it('rule: a txn is never applied twice (restart replays the log, then DIFF resumes after it)', () => {
    const all = [1, 2, 3];
    const h = new Harness(all);
    const l = h.stable();
    const f = others(l, all)[0]!;
    h.propose('a');
    // f logs and ACKs 'b' but never hears its COMMIT; then it crashes.
    h.filter = (m) => !(m.to === f && m.type === 'commit');
    h.propose('b');
    expect(labels(h.member(f).log)).toContain('b');
    expect(labels(h.member(f).applied)).not.toContain('b');
    h.crash(f);
    h.heal();
    h.propose('c');
    h.start(f); // replays its whole log: 'b' is applied at start, as ZooKeeper does
    h.stable();
    h.propose('d');
    const applied = h.member(f).applied.map((e) => e.zxid);
    expect(new Set(applied).size).toBe(applied.length);
    expect(labels(h.member(f).applied)).toEqual(labels(h.member(l).applied));
  });
});

describe('ZooKeeper data-loss pitfalls', () => {
  function restartBehind(h: Harness, count: number): { leader: number; follower: number } {
    const all = [...h.members.keys()];
    const l = h.stable();
    const f = others(l, all)[0]!;
    h.crash(f);
    for (let i = 0; i < count; i++) h.propose(`t${i}`);
    h.start(f);
    return { leader: l, follower: f };
  }

  it('ZOOKEEPER-3911: a follower logs every synced txn durably before it ACKs NEWLEADER', () => {
    const h = new Harness([1, 2, 3]);
    let checked = 0;
    h.onReady = (id, rd) => {
      const ack = rd.messages.find((m) => m.type === 'ackNewLeader');
      if (ack === undefined || ack.type !== 'ackNewLeader') return;
      // Duty order: this Ready's toAppend is persisted before its messages are sent.
      const durableAfter = [...h.member(id).log, ...rd.toAppend];
      const last = durableAfter[durableAfter.length - 1]?.zxid ?? h.member(id).snapshotZxid;
      expect(last).toBeGreaterThanOrEqual(ack.zxid);
      checked++;
    };
    const { follower } = restartBehind(h, 5);
    h.stable();
    expect(checked).toBeGreaterThan(0);
    expect(labels(h.member(follower).log)).toContain('t4');
  });

  it('ZOOKEEPER-4643: currentEpoch is updated only with (after) the synced txns', () => {
    const h = new Harness([1, 2, 3]);
    let newLeaderZxid: bigint | undefined;
    let checked = 0;
    h.onReady = (id, rd) => {
      const epoch = rd.epochUpdates?.currentEpoch;
      if (epoch === undefined || h.node(id).role !== 'following') return;
      const durable = [...h.member(id).log, ...rd.toAppend];
      // The shell writes currentEpoch after this Ready's appends (duty 1d after 1c): the whole
      // synced history must be among them or already durable.
      expect(durable[durable.length - 1]?.zxid ?? 0n).toBe(h.node(id).lastZxid);
      newLeaderZxid = h.node(id).lastZxid;
      checked++;
    };
    restartBehind(h, 4);
    h.stable();
    expect(checked).toBeGreaterThan(0);
    expect(newLeaderZxid).toBeDefined();
  });

  it('ZOOKEEPER-4394: during sync a follower applies only committed txns', () => {
    const all = [1, 2, 3];
    const h = new Harness(all);
    const l = h.stable();
    const [a, b] = others(l, all) as [number, number];
    h.propose('committed');
    h.crash(b);
    h.partition([a], [l]);
    const p = h.node(l).propose({ label: 'uncommitted' });
    expect(p.ok).toBe(true);
    h.pump();
    let sawAck = false;
    h.onReady = (id, rd) => {
      if (id !== b) return;
      if (rd.messages.some((m) => m.type === 'ackNewLeader')) sawAck = true;
      if (!sawAck) expect(labels(rd.toApply)).not.toContain('uncommitted');
    };
    h.start(b);
    h.until(() => h.node(b).serving);
    expect(sawAck).toBe(true);
    // Once b's ACK made a quorum, the txn committed and b applied it, exactly once.
    expect(labels(h.member(b).applied).filter((x) => x === 'uncommitted')).toHaveLength(1);
  });

  it('ZOOKEEPER-4925: the history kept for DIFF has no holes (older followers get SNAP)', () => {
    const h = new Harness([1, 2, 3], [], { maxCommittedLogEntries: 5 });
    const streams: ZabMessage<TestEntry>[][] = [];
    h.onReady = (id, rd) => {
      if (h.node(id).role === 'leading') streams.push(rd.messages);
    };
    const { leader, follower } = restartBehind(h, 20);
    h.stable();
    const events = h.member(leader).readies.flatMap((r) => r.events);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'learnerSynced', learner: follower, how: 'snap' }),
    );
    expect(labels(h.member(follower).applied)).toEqual(labels(h.member(leader).applied));
    // A follower within the window gets a DIFF whose proposals are contiguous.
    h.crash(follower);
    h.propose('n1');
    h.propose('n2');
    streams.length = 0;
    h.start(follower);
    h.stable();
    const diff = streams.flat().filter((m) => m.to === follower);
    const kinds = diff.map((m) => m.type);
    expect(kinds).toContain('diff');
    const proposals = diff.flatMap((m) => (m.type === 'proposal' ? [m.entry.zxid] : []));
    expect(proposals.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < proposals.length; i++)
      expect(isNextZxid(proposals[i - 1]!, proposals[i]!)).toBe(true);
    expect(labels(h.member(follower).applied)).toEqual(labels(h.member(leader).applied));
  });

  it('ZOOKEEPER-1277: the leader forces a new epoch before the zxid counter overflows', () => {
    const h = new Harness([1, 2, 3], [], { maxZxidCounter: 3 });
    const l = h.stable();
    const epoch = h.node(l).currentEpoch;
    h.propose('1');
    h.propose('2');
    h.propose('3');
    const r = h.node(l).propose({ label: 'overflow' });
    expect(r).toMatchObject({ ok: false, reason: 'zxidExhausted' });
    h.stable(1000);
    const z = h.propose('after');
    expect(zxidEpoch(z)).toBeGreaterThan(epoch);
    expect(zxidCounter(z)).toBe(1);
    for (const id of [1, 2, 3]) expect(labels(h.member(id).applied)).toEqual(['1', '2', '3', 'after']);
  });

  it('ZOOKEEPER-1675: a deposed leader never answers sync; a new one only once established', () => {
    const all = [1, 2, 3];
    const h = new Harness(all);
    const old = h.stable();
    h.propose('v1');
    h.partition([old], others(old, all));
    // Still serving for a few ticks: it accepts the sync but cannot confirm it with a quorum.
    expect(h.node(old).sync(1)).toEqual({ ok: true });
    h.until(() => h.leader() !== undefined && h.leader() !== old);
    h.propose('v2');
    const done = h.member(old).readies.flatMap((r) => r.syncsDone);
    expect(done.filter((d) => d.ok)).toEqual([]);
    expect(done).toContainEqual({ reqId: 1, ok: false, zxid: 0n });
    // A follower's sync completes only once it has applied what the leader committed.
    const n = h.leader()!;
    const f = others(n, all).find((x) => x !== old)!;
    expect(h.node(f).sync(2)).toEqual({ ok: true });
    h.pump();
    const fDone = h
      .member(f)
      .readies.flatMap((r) => r.syncsDone)
      .find((d) => d.reqId === 2);
    expect(fDone?.ok).toBe(true);
    expect(labels(h.member(f).applied)).toContain('v2');
  });

  it('ZOOKEEPER-1675 (the bug, injected): without the quorum check a deposed leader answers stale', () => {
    const all = [1, 2, 3];
    const h = new Harness(all, [], { faults: ['syncWithoutQuorumCheck'] });
    const old = h.stable();
    h.propose('v1');
    h.partition([old], others(old, all));
    h.tick(2);
    expect(h.node(old).sync(1)).toEqual({ ok: true });
    h.pump();
    const done = h.member(old).readies.flatMap((r) => r.syncsDone);
    expect(done).toContainEqual(expect.objectContaining({ reqId: 1, ok: true }));
  });
});
