import { makeZxid } from '@conclave/core';
import { describe, expect, it } from 'vitest';
import { type ZabEvent, ZabHistory, type ZabMessage } from '../../src/zab/index.js';
import { Harness, labels, type TestEntry } from './harness.js';

/**
 * A learner behind the leader's in-memory window (maxCommittedLogEntries) but within the leader's
 * durable log gets a DIFF (or TRUNC) whose older part the shell streams from its log, instead of
 * a full SNAP. The node decides from where the shell says its log starts (setLogStart) and reserves the
 * sequence numbers; the harness plays the shell, reading its durable log.
 */

/** Every member's shell can stream its whole durable log (the harness log starts at its snapshot). */
function giveFloors(h: Harness, maxEntries?: number): void {
  for (const [id, m] of h.members) {
    if (m.up && m.log.length > 0) h.node(id).setLogStart(m.log[0]!.zxid, maxEntries);
  }
}

/** Shell duty for `fromLog`: the entries from the durable log, as PROPOSALs on the reserved seqs. */
function serveFromLog(h: Harness): { served: number } {
  const stats = { served: 0 };
  h.onReady = (id, rd) => {
    const out: ZabMessage<TestEntry>[] = [];
    for (const m of rd.messages) {
      out.push(m);
      if ((m.type !== 'diff' && m.type !== 'trunc') || m.fromLog === undefined) continue;
      const { to, count } = m.fromLog;
      const entries = h.member(id).log.filter((e) => e.zxid > m.zxid && e.zxid <= to);
      expect(entries).toHaveLength(count);
      for (const [i, entry] of entries.entries()) {
        out.push({ ...m, type: 'proposal', seq: m.seq + 1 + i, entry } as ZabMessage<TestEntry>);
      }
      stats.served += count;
    }
    rd.messages.splice(0, rd.messages.length, ...out);
  };
  return stats;
}

const synced = (h: Harness, leader: number): Array<Extract<ZabEvent, { type: 'learnerSynced' }>> =>
  h
    .member(leader)
    .readies.flatMap((r) =>
      r.events.filter((e): e is Extract<ZabEvent, { type: 'learnerSynced' }> => e.type === 'learnerSynced'),
    );

describe('sync from the durable log (behind the in-memory window)', () => {
  function behindWindow(withFloors: boolean, maxEntries?: number) {
    const h = new Harness([1, 2, 3], [], { maxCommittedLogEntries: 2 });
    const served = serveFromLog(h);
    const l = h.stable();
    const f = [1, 2, 3].find((x) => x !== l)!;
    h.propose('before');
    h.crash(f);
    for (let i = 0; i < 8; i++) h.propose(`t${i}`);
    if (withFloors) giveFloors(h, maxEntries);
    h.start(f);
    h.stable();
    h.propose('after');
    return { h, l, f, served };
  }

  it('DIFF with the older part streamed from the log, not SNAP', () => {
    const { h, l, f, served } = behindWindow(true);
    const ev = synced(h, l).filter((e) => e.learner === f);
    expect(ev.at(-1)).toMatchObject({ how: 'diff', fromLog: { count: expect.any(Number) } });
    expect(served.served).toBeGreaterThanOrEqual(6);
    expect(h.member(f).readies.some((r) => r.snapshotToInstall !== undefined)).toBe(false);
    expect(labels(h.member(f).applied)).toEqual(labels(h.member(l).applied));
    expect(labels(h.member(f).log)).toEqual(labels(h.member(l).log));
  });

  it('control: without a floor from the shell the same learner gets a SNAP', () => {
    const { h, l, f, served } = behindWindow(false);
    expect(
      synced(h, l)
        .filter((e) => e.learner === f)
        .at(-1),
    ).toMatchObject({ how: 'snap' });
    expect(served.served).toBe(0);
    expect(labels(h.member(f).applied)).toEqual(labels(h.member(l).applied));
  });

  it('SNAP when more entries than the shell allows would come from the log (snapshotSizeFactor)', () => {
    const { h, l, f, served } = behindWindow(true, 3);
    expect(
      synced(h, l)
        .filter((e) => e.learner === f)
        .at(-1),
    ).toMatchObject({ how: 'snap' });
    expect(served.served).toBe(0);
    expect(labels(h.member(f).applied)).toEqual(labels(h.member(l).applied));
  });

  it('TRUNC of an uncommitted old-epoch tail, then the log stream', () => {
    const all = [1, 2, 3];
    const h = new Harness(all, [], { maxCommittedLogEntries: 2 });
    serveFromLog(h);
    const old = h.stable();
    h.propose('base');
    h.partition(
      [old],
      all.filter((x) => x !== old),
    );
    expect(h.node(old).propose({ label: 'orphan' }).ok).toBe(true);
    h.pump();
    h.crash(old);
    h.heal();
    h.until(() => h.leader() !== undefined && h.leader() !== old);
    for (let i = 0; i < 8; i++) h.propose(`new${i}`);
    giveFloors(h);
    h.start(old);
    const l = h.stable(1000);
    const ev = synced(h, l).filter((e) => e.learner === old);
    expect(ev.at(-1)).toMatchObject({ how: 'trunc', fromLog: { count: expect.any(Number) } });
    expect(labels(h.member(old).log)).not.toContain('orphan');
    expect(labels(h.member(old).applied)).toEqual(labels(h.member(l).applied));
  });

  it('counts entries below the window from the epoch records, across epochs', () => {
    const e = (epoch: number, n: number): TestEntry[] =>
      Array.from({ length: n }, (_, i) => ({ zxid: makeZxid(epoch, i + 1), label: `${epoch}.${i + 1}` }));
    const hist = new ZabHistory<TestEntry>(0n, [...e(1, 5), ...e(2, 3), ...e(4, 7)]);
    hist.trim(makeZxid(4, 6), 1); // keeps (4,6) and what follows in memory
    expect(hist.baseZxid).toBe(makeZxid(4, 5));
    expect(hist.countBetween(0n, hist.baseZxid)).toBe(5 + 3 + 5);
    expect(hist.countBetween(makeZxid(1, 3), makeZxid(2, 3))).toBe(2 + 3);
    expect(hist.countBetween(makeZxid(1, 5), makeZxid(4, 2))).toBe(3 + 2);
    expect(hist.countBetween(makeZxid(4, 2), makeZxid(4, 2))).toBe(0);
    // Where a log starting at a zxid continues from (the DIFF floor the node derives).
    expect(hist.predecessorOf(makeZxid(4, 3))).toBe(makeZxid(4, 2));
    expect(hist.predecessorOf(makeZxid(4, 1))).toBe(makeZxid(2, 3));
    expect(hist.predecessorOf(makeZxid(1, 1))).toBe(0n);
  });
});
