/**
 * Turns per-worker cumulative counters into a rate over a sliding window. A worker that restarts
 * starts counting from 0 again; such a drop counts as a fresh start, never as negative work.
 */
export class RateMeter {
  readonly #last = new Map<string, number>();
  readonly #samples: { atMs: number; delta: number }[] = [];
  #total = 0;

  constructor(private readonly windowMs = 5000) {}

  /** Feed every worker's current counter (key should change when the process changes). */
  sample(nowMs: number, counters: Iterable<[key: string, value: number]>): void {
    let delta = 0;
    for (const [key, value] of counters) {
      const prev = this.#last.get(key);
      delta += prev === undefined || value < prev ? value : value - prev;
      this.#last.set(key, value);
    }
    this.#total += delta;
    this.#samples.push({ atMs: nowMs, delta });
    while (this.#samples.length > 0 && this.#samples[0]!.atMs < nowMs - this.windowMs) this.#samples.shift();
  }

  /** Events per second over the window. */
  perSecond(): number {
    if (this.#samples.length < 2) return 0;
    const first = this.#samples[0]!;
    const last = this.#samples[this.#samples.length - 1]!;
    const spanMs = last.atMs - first.atMs;
    if (spanMs <= 0) return 0;
    // The first sample's delta happened before the window's start: leave it out.
    const sum = this.#samples.slice(1).reduce((a, s) => a + s.delta, 0);
    return (sum * 1000) / spanMs;
  }

  get total(): number {
    return this.#total;
  }
}
