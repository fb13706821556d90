/** A min-heap of timed callbacks; ties run in scheduling order, so runs are deterministic. */
export class EventQueue {
  private heap: Array<{ time: number; seq: number; fn: () => void }> = [];
  private seq = 0;
  now = 0;

  schedule(time: number, fn: () => void): void {
    const item = { time: Math.max(time, this.now), seq: this.seq++, fn };
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p]!, item)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = item;
  }

  get size(): number {
    return this.heap.length;
  }

  /** Runs the next event; false when none is due at or before `until`. */
  runNext(until: number): boolean {
    const h = this.heap;
    const top = h[0];
    if (top === undefined || top.time > until) return false;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let best = last;
        if (l < h.length && less(h[l]!, best)) {
          m = l;
          best = h[l]!;
        }
        if (r < h.length && less(h[r]!, best)) m = r;
        if (m === i) break;
        h[i] = h[m]!;
        i = m;
      }
      h[i] = last;
    }
    this.now = top.time;
    top.fn();
    return true;
  }
}

function less(a: { time: number; seq: number }, b: { time: number; seq: number }): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
