import type { SeededPrng } from '../../zab/prng.js';
import type { EventQueue } from './event-queue.js';

export interface NetworkFaults {
  /** Probability a message is lost. */
  dropRate: number;
  /** Probability a message is delivered twice. */
  duplicateRate: number;
  /** Probability a message ignores its link's FIFO order (overtakes or is overtaken). */
  reorderRate: number;
  minDelay: number;
  maxDelay: number;
}

/**
 * The simulated network: per-link FIFO delivery with random delays (like TCP), plus injected
 * loss, duplication, reordering and partitions (symmetric or one-way). A partition applies at
 * send and at delivery time, so messages in flight when it starts are lost too.
 */
export class SimNetwork<M> {
  faults: NetworkFaults;
  private readonly blocked = new Set<string>();
  private readonly linkTail = new Map<string, number>();
  delivered = 0;
  dropped = 0;

  constructor(
    private readonly queue: EventQueue,
    private readonly prng: SeededPrng,
    faults: NetworkFaults,
    private readonly deliver: (to: number, msg: M) => void,
  ) {
    this.faults = faults;
  }

  send(from: number, to: number, msg: M): void {
    if (this.isBlocked(from, to) || this.prng.chance(this.faults.dropRate)) {
      this.dropped++;
      return;
    }
    const copies = this.prng.chance(this.faults.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const f = this.faults;
      const delay = f.minDelay + this.prng.nextInt(f.maxDelay - f.minDelay + 1);
      const link = `${from}>${to}`;
      let at = this.queue.now + delay;
      if (!this.prng.chance(f.reorderRate)) {
        at = Math.max(at, this.linkTail.get(link) ?? 0);
        this.linkTail.set(link, at);
      }
      this.queue.schedule(at, () => {
        if (this.isBlocked(from, to)) {
          this.dropped++;
          return;
        }
        this.delivered++;
        this.deliver(to, msg);
      });
    }
  }

  isBlocked(from: number, to: number): boolean {
    return this.blocked.has(`${from}>${to}`);
  }

  /** Cuts `a` off from `b` (both directions unless oneWay: then only a→b is lost). */
  partition(a: number, b: number, oneWay = false): void {
    this.blocked.add(`${a}>${b}`);
    if (!oneWay) this.blocked.add(`${b}>${a}`);
  }

  /** Isolates a group of members from everyone else. */
  isolate(group: number[], all: number[]): void {
    for (const a of group) for (const b of all) if (!group.includes(b)) this.partition(a, b);
  }

  heal(): void {
    this.blocked.clear();
  }

  get partitioned(): boolean {
    return this.blocked.size > 0;
  }
}
