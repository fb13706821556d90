import { makeZxid } from '@conclave/core';
import { describe, expect, it } from 'vitest';
import { isNextZxid, ZabHistory, zabCommonPoint } from '../../src/zab/index.js';
import { planSync } from '../../src/zab/sync-plan.js';

const z = makeZxid;
const e = (epoch: number, counter: number) => ({ zxid: z(epoch, counter) });

describe('ZabHistory', () => {
  it('accepts only contiguous zxids: next counter, or counter 1 of a later epoch', () => {
    expect(isNextZxid(z(1, 1), z(1, 2))).toBe(true);
    expect(isNextZxid(z(1, 1), z(1, 3))).toBe(false);
    expect(isNextZxid(z(1, 5), z(3, 1))).toBe(true);
    expect(isNextZxid(z(1, 5), z(3, 2))).toBe(false);
    expect(isNextZxid(z(1, 5), z(1, 5))).toBe(false);
    const h = new ZabHistory(0n, [e(1, 1), e(1, 2)]);
    expect(() => h.append(e(1, 4))).toThrow(/invariant/);
  });

  it('tracks epoch records through append, truncate and reset', () => {
    const h = new ZabHistory(0n, [e(1, 1), e(1, 2), e(1, 3), e(2, 1), e(4, 1), e(4, 2)]);
    expect(h.epochs()).toEqual([
      [1, 3],
      [2, 1],
      [4, 2],
    ]);
    h.truncate(z(1, 2));
    expect(h.epochs()).toEqual([[1, 2]]);
    expect(h.lastZxid).toBe(z(1, 2));
    h.append(e(5, 1));
    h.resetTo(z(7, 9));
    expect(h.epochs()).toEqual([[7, 9]]);
    expect(h.range(z(7, 9), z(9, 9))).toEqual([]);
  });

  it('keeps a bounded window of committed entries and never trims above the limit', () => {
    const entries = Array.from({ length: 3000 }, (_, i) => e(1, i + 1));
    const h = new ZabHistory(0n, entries);
    h.trim(z(1, 2000), 100);
    expect(h.baseZxid).toBe(z(1, 1900));
    expect(h.range(z(1, 1900), z(1, 1903)).map((x) => x.zxid)).toEqual([z(1, 1901), z(1, 1902), z(1, 1903)]);
    expect(() => h.range(z(1, 10), z(1, 20))).toThrow(/invariant/);
    expect(h.size).toBe(1100);
  });

  it('finds the last shared zxid from the learner epoch records', () => {
    const leader = new ZabHistory(0n, [e(1, 1), e(1, 2), e(1, 3), e(3, 1), e(3, 2)]);
    // Learner has an uncommitted tail of epoch 1 (1:4, 1:5) and nothing of epoch 3.
    expect(zabCommonPoint(leader, [[1, 5]])).toBe(z(1, 3));
    // Learner is a prefix of the leader.
    expect(
      zabCommonPoint(leader, [
        [1, 3],
        [3, 1],
      ]),
    ).toBe(z(3, 1));
    // Learner has an epoch the leader never saw (2): fall back to the shared epoch 1.
    expect(
      zabCommonPoint(leader, [
        [1, 3],
        [2, 4],
      ]),
    ).toBe(z(1, 3));
    expect(zabCommonPoint(leader, [[9, 9]])).toBe(0n);
  });
});

describe('planSync (DIFF / TRUNC / SNAP)', () => {
  const leader = new ZabHistory(0n, [e(1, 1), e(1, 2), e(1, 3), e(3, 1), e(3, 2)]);
  it('DIFF when the learner is a prefix of the leader', () => {
    expect(planSync(leader, z(3, 2), { lastZxid: z(1, 2), snapshotZxid: 0n, epochs: [[1, 2]] })).toEqual({
      how: 'diff',
      fromZxid: z(1, 2),
    });
  });
  it('TRUNC when the learner holds an uncommitted tail of an old epoch', () => {
    expect(planSync(leader, z(3, 2), { lastZxid: z(1, 5), snapshotZxid: 0n, epochs: [[1, 5]] })).toEqual({
      how: 'trunc',
      fromZxid: z(1, 3),
    });
  });
  it('SNAP when the shared point is below the learner snapshot (a TRUNC it could not undo)', () => {
    expect(planSync(leader, z(3, 2), { lastZxid: z(1, 5), snapshotZxid: z(1, 4), epochs: [[1, 5]] })).toEqual(
      {
        how: 'snap',
        fromZxid: z(3, 2),
      },
    );
  });
  it('SNAP when the shared point fell out of the leader window', () => {
    const trimmed = new ZabHistory(0n, [e(1, 1), e(1, 2), e(1, 3), e(3, 1), e(3, 2)]);
    trimmed.trim(z(3, 2), 1);
    expect(planSync(trimmed, z(3, 2), { lastZxid: z(1, 1), snapshotZxid: 0n, epochs: [[1, 1]] }).how).toBe(
      'snap',
    );
  });
});
