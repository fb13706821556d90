import { makeZxid, type Zxid, zxidCounter, zxidEpoch } from '@conclave/core';
import type { ZabEntry } from './types.js';

/** Epoch records kept for finding the common point with a learner; older ones are dropped. */
const MAX_EPOCH_RECORDS = 4096;

/**
 * True when `next` may follow `prev` in a ZAB history: the next counter of the same epoch, or the
 * first txn (counter 1) of a later epoch. Every epoch's txns are contiguous from counter 1, because
 * a leader numbers its proposals 1, 2, 3… and learners log them over a FIFO connection.
 */
export function isNextZxid(prev: Zxid, next: Zxid): boolean {
  if (next <= prev) return false;
  if (zxidEpoch(next) === zxidEpoch(prev)) return zxidCounter(next) === zxidCounter(prev) + 1;
  return zxidCounter(next) === 1;
}

/**
 * The member's view of its log: every entry after `baseZxid` that it still keeps in memory, plus
 * the last counter of every epoch in its history. Uncommitted and unapplied entries are always
 * kept; committed ones only within a window (ZooKeeper's committedLog), older syncs get SNAP.
 */
export class ZabHistory<E extends ZabEntry> {
  private entries: E[] = [];
  private head = 0;
  private base: Zxid;
  private last: Zxid;
  /** `[epoch, lastCounter]` ascending. */
  private epochList: Array<[number, number]> = [];
  /**
   * The epoch records describe the history only after this zxid (where it was built or reset, or
   * the newest record dropped): below it they know nothing of which epochs exist, so counting or
   * finding predecessors there would silently skip whole epochs.
   */
  private recordsFrom: Zxid;

  constructor(baseZxid: Zxid, entries: readonly E[]) {
    this.base = baseZxid;
    this.last = baseZxid;
    this.recordsFrom = baseZxid;
    if (baseZxid > 0n) this.epochList.push([zxidEpoch(baseZxid), zxidCounter(baseZxid)]);
    for (const e of entries) this.append(e);
  }

  get baseZxid(): Zxid {
    return this.base;
  }

  get lastZxid(): Zxid {
    return this.last;
  }

  /**
   * The lowest zxid the epoch records can reason from: {@link countBetween} and
   * {@link predecessorOf} are exact only at or above it (and a DIFF/TRUNC may start only there).
   */
  get recordsFromZxid(): Zxid {
    return this.recordsFrom;
  }

  get size(): number {
    return this.entries.length - this.head;
  }

  /** A copy of the epoch records, ascending. */
  epochs(): Array<[number, number]> {
    return this.epochList.map(([e, c]) => [e, c]);
  }

  /** The last counter this history holds for `epoch`, or undefined. */
  lastCounterOf(epoch: number): number | undefined {
    for (let i = this.epochList.length - 1; i >= 0; i--) {
      const rec = this.epochList[i]!;
      if (rec[0] === epoch) return rec[1];
      if (rec[0] < epoch) return undefined;
    }
    return undefined;
  }

  append(entry: E): void {
    if (!isNextZxid(this.last, entry.zxid)) {
      throw new Error(
        `invariant: log append out of order: ${entry.zxid.toString(16)} after ${this.last.toString(16)}`,
      );
    }
    this.entries.push(entry);
    this.last = entry.zxid;
    const epoch = zxidEpoch(entry.zxid);
    const tail = this.epochList[this.epochList.length - 1];
    if (tail !== undefined && tail[0] === epoch) tail[1] = zxidCounter(entry.zxid);
    else {
      this.epochList.push([epoch, zxidCounter(entry.zxid)]);
      if (this.epochList.length > MAX_EPOCH_RECORDS) {
        const [e, c] = this.epochList.shift()!;
        const dropped = makeZxid(e, c);
        if (this.recordsFrom < dropped) this.recordsFrom = dropped;
      }
    }
  }

  /** Drops every entry after `zxid` (TRUNC). `zxid` must be in the history (or its base or below). */
  truncate(zxid: Zxid): void {
    if (zxid >= this.last) return;
    if (zxid <= this.base) {
      this.entries = [];
      this.head = 0;
      this.base = zxid;
      if (zxid < this.recordsFrom) this.recordsFrom = zxid;
    } else {
      const idx = this.indexOf(zxid);
      if (idx < 0) throw new Error(`invariant: TRUNC to ${zxid.toString(16)}, which is not in the log`);
      this.entries.length = idx + 1;
    }
    this.last = zxid;
    const epoch = zxidEpoch(zxid);
    while (this.epochList.length > 0 && this.epochList[this.epochList.length - 1]![0] > epoch)
      this.epochList.pop();
    const tail = this.epochList[this.epochList.length - 1];
    if (zxid === 0n) this.epochList = [];
    else if (tail !== undefined && tail[0] === epoch) tail[1] = zxidCounter(zxid);
    else this.epochList.push([epoch, zxidCounter(zxid)]);
  }

  /** Forgets everything: the history now starts with a snapshot at `zxid` (SNAP). */
  resetTo(zxid: Zxid): void {
    this.entries = [];
    this.head = 0;
    this.base = zxid;
    this.last = zxid;
    this.recordsFrom = zxid;
    this.epochList = zxid > 0n ? [[zxidEpoch(zxid), zxidCounter(zxid)]] : [];
  }

  /**
   * How many entries this history holds with `from < zxid <= to`, counted from the epoch records
   * (each epoch's counters run 1, 2, 3… without holes), so it works below the in-memory window.
   */
  countBetween(from: Zxid, to: Zxid): number {
    const fe = zxidEpoch(from);
    const te = zxidEpoch(to);
    let n = 0;
    for (const [e, last] of this.epochList) {
      const lo = e < fe ? last + 1 : e === fe ? zxidCounter(from) + 1 : 1;
      const hi = e > te ? 0 : e === te ? Math.min(last, zxidCounter(to)) : last;
      if (hi >= lo) n += hi - lo + 1;
    }
    return n;
  }

  /**
   * The zxid just before `zxid` in this history: the previous counter of its epoch, else the last
   * txn of the newest earlier epoch on record, else 0n.
   */
  predecessorOf(zxid: Zxid): Zxid {
    if (zxidCounter(zxid) > 1) return zxid - 1n;
    const epoch = zxidEpoch(zxid);
    for (let i = this.epochList.length - 1; i >= 0; i--) {
      const [e, c] = this.epochList[i]!;
      if (e < epoch) return makeZxid(e, c);
    }
    return 0n;
  }

  /** The entry with this zxid, if kept in memory. */
  get(zxid: Zxid): E | undefined {
    const idx = this.indexOf(zxid);
    return idx < 0 ? undefined : this.entries[idx];
  }

  /** Entries with `from < zxid <= to`, in order. `from` must be ≥ baseZxid. */
  range(from: Zxid, to: Zxid): E[] {
    if (from < this.base)
      throw new Error(`invariant: range from ${from.toString(16)} below log base ${this.base.toString(16)}`);
    const out: E[] = [];
    let i = this.lowerBound(from);
    while (i < this.entries.length) {
      const e = this.entries[i]!;
      if (e.zxid > to) break;
      if (e.zxid > from) out.push(e);
      i++;
    }
    return out;
  }

  /**
   * Forgets committed entries ≤ `upTo` beyond the newest `keep` of them, so memory stays bounded.
   * Amortized: compacts the array only when the dropped prefix is large.
   */
  trim(upTo: Zxid, keep: number): void {
    const limitIdx = this.lowerBound(upTo + 1n); // first index with zxid > upTo
    const droppable = limitIdx - this.head - keep;
    if (droppable <= 0) return;
    this.head += droppable;
    this.base = this.entries[this.head - 1]!.zxid;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  private indexOf(zxid: Zxid): number {
    const i = this.lowerBound(zxid);
    return i < this.entries.length && this.entries[i]!.zxid === zxid ? i : -1;
  }

  /** First index ≥ head whose zxid ≥ `zxid`. */
  private lowerBound(zxid: Zxid): number {
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.zxid < zxid) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * The last zxid two histories share, from the learner's epoch records: two histories holding the
 * same zxid hold the same prefix up to it (each epoch's txns come from one leader, in order, on
 * top of that leader's initial history). 0n when they share nothing.
 */
export function commonPoint(
  leader: { lastCounterOf(epoch: number): number | undefined },
  learnerEpochs: ReadonlyArray<readonly [number, number]>,
): Zxid {
  for (let i = learnerEpochs.length - 1; i >= 0; i--) {
    const [epoch, counter] = learnerEpochs[i]!;
    const mine = leader.lastCounterOf(epoch);
    if (mine !== undefined) return makeZxid(epoch, Math.min(mine, counter));
  }
  return 0n;
}
