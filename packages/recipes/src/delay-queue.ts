/**
 * DelayQueue: a DistributedQueue whose items become takeable only `delayMs` after they were
 * offered (Curator's DistributedDelayQueue); among due items the earliest due is taken first.
 *
 * ```ts
 * const retries = new DelayQueue(client, '/jobs/retry');
 * await retries.offer(JSON.stringify(job), { delayMs: 30_000 });
 * const due = await retries.take();   // resolves no earlier than 30 s after the offer
 * ```
 *
 * The due time (producer's clock, ms since the epoch) is in the node name
 * (`qn-<due, 15 digits>-<guid>-<seq>`). Consumers compare it with their own clock: clock skew
 * between producer and consumer shifts the delay by the skew (keep clocks NTP-synced). A waiting
 * consumer sleeps until the head is due or the children change, whichever comes first.
 *
 * Connection states and failure cases: as DistributedQueue (protected offer, exactly-once take,
 * blocked takes reject with SessionLostError on LOST/EXPIRED/CLOSED).
 */
import { QueueBase } from './internal/queue-base.js';
import { sequenceOf } from './internal/sequence.js';
import type { RecipeClient } from './recipe-client.js';

/** The due-time field of an item name (`qn-DDDDDDDDDDDDDDD-…`). */
function dueOf(name: string): number {
  return Number(name.slice(3, 18));
}

function byDueThenSequence(a: string, b: string): number {
  return dueOf(a) - dueOf(b) || sequenceOf(a) - sequenceOf(b);
}

export class DelayQueue extends QueueBase {
  constructor(client: RecipeClient, path: string) {
    super(client, path, {
      compare: byDueThenSequence,
      dueAtMs: dueOf,
      newItemsMayJumpAhead: true,
    });
  }

  /** Queues an item that becomes takeable `delayMs` from now (default 0). */
  offer(data: string | Uint8Array, opts: { delayMs?: number; signal?: AbortSignal } = {}): Promise<string> {
    const delayMs = opts.delayMs ?? 0;
    if (!Number.isFinite(delayMs) || delayMs < 0) {
      throw new TypeError(`DelayQueue: delayMs must be a non-negative number, got ${delayMs}`);
    }
    const due = Math.ceil(Date.now() + delayMs);
    return this.offerItem(`${String(due).padStart(15, '0')}-`, data, opts.signal);
  }
}
