import { makeZxid } from '@conclave/core';
import { describe, expect, it } from 'vitest';
import { ZabHistory, type ZabMessage } from '../../src/zab/index.js';
import { Harness, labels, type TestEntry } from './harness.js';

/**
 * A leader restarted from a snapshot knows its epochs only from that snapshot on, while its
 * durable log may still hold older epochs. A DIFF from that log must never be planned from below
 * the snapshot: counted from the epoch records it would be short by whole epochs, and the learner
 * (which accepts a new epoch's counter 1 after any zxid) would silently miss committed txns.
 */

const run = (epoch: number, n: number): TestEntry[] =>
  Array.from({ length: n }, (_, i) => ({ zxid: makeZxid(epoch, i + 1), label: `${epoch}.${i + 1}` }));

describe('DIFF from the log after a leader restart', () => {
  it('a learner below the recovered snapshot gets a SNAP or a full-length DIFF, never a short one', () => {
    // On disk: epoch 1 (1..100), epoch 2 (1..30), epoch 3 (1..5); snapshot at (2,30).
    const below = [...run(1, 100), ...run(2, 30)];
    const disk = [...below, ...run(3, 5)];
    const h = new Harness([1, 2, 3]);
    for (const id of [1, 2, 3]) h.crash(id);
    for (const id of [1, 2]) {
      const m = h.member(id);
      m.acceptedEpoch = 3;
      m.currentEpoch = 3;
      m.snapshotZxid = makeZxid(2, 30);
      m.snapshotData = below.slice();
      m.log = run(3, 5);
    }
    // Each shell streams its durable log as a shell without checks would: the first `count`
    // entries after the DIFF point, whatever they are.
    const plans: Array<{ how: string; count?: number }> = [];
    h.onReady = (_id, rd) => {
      const out: ZabMessage<TestEntry>[] = [];
      for (const m of rd.messages) {
        out.push(m);
        if (m.type === 'snap' && m.to === 3) plans.push({ how: 'snap' });
        if ((m.type !== 'diff' && m.type !== 'trunc') || m.to !== 3) continue;
        plans.push({ how: m.type, ...(m.fromLog !== undefined ? { count: m.fromLog.count } : {}) });
        if (m.fromLog === undefined) continue;
        const entries = disk.filter((e) => e.zxid > m.zxid).slice(0, m.fromLog.count);
        for (const [i, entry] of entries.entries()) {
          out.push({ ...m, type: 'proposal', seq: m.seq + 1 + i, entry } as ZabMessage<TestEntry>);
        }
      }
      rd.messages.splice(0, rd.messages.length, ...out);
    };
    for (const id of [1, 2, 3]) {
      h.start(id);
      if (id !== 3) h.node(id).setLogStart(makeZxid(1, 1));
    }
    const l = h.stable(1000);
    expect([1, 2]).toContain(l);
    h.propose('after');
    expect(plans.length).toBeGreaterThan(0);
    for (const p of plans) if (p.how !== 'snap') expect(p.count).toBe(130);
    expect(labels(h.member(3).applied)).toEqual(labels(h.member(l).applied));
    expect(h.member(3).applied).toHaveLength(136);
  });

  it('the epoch records reason only from where the history was built or reset', () => {
    const hist = new ZabHistory<TestEntry>(makeZxid(2, 30), run(3, 5));
    expect(hist.recordsFromZxid).toBe(makeZxid(2, 30));
    hist.resetTo(makeZxid(3, 2));
    expect(hist.recordsFromZxid).toBe(makeZxid(3, 2));
    hist.truncate(makeZxid(2, 7));
    expect(hist.recordsFromZxid).toBe(makeZxid(2, 7));
  });
});
