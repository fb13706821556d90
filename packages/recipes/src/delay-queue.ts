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
 * (`_c_<guid>-qn-<due, 15 digits>-<seq>`). Consumers compare it with their own clock: clock skew
 * between producer and consumer shifts the delay by the skew (keep clocks NTP-synced). A waiting
 * consumer sleeps until the head is due or the children change, whichever comes first.
 *
 * Connection states and failure cases: as DistributedQueue (protected offer, exactly-once take,
 * blocked takes reject with SessionLostError on EXPIRED/CLOSED).
 */
import { BadArgumentsError } from '@conclave/core';
import { QueueBase } from './internal/queue-base.js';
import { itemFields } from './internal/queue-core.js';
import { sequenceOf } from './internal/sequence.js';
import type { RecipeClient } from './recipe-client.js';

/** The due-time field of an item name (`_c_<uuid>-qn-DDDDDDDDDDDDDDD-<seq>`). */
function dueOf(name: string): number {
  return Number(itemFields(name).slice(0, 15));
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
  async offer(
    data: string | Uint8Array,
    opts: { delayMs?: number; signal?: AbortSignal } = {},
  ): Promise<string> {
    const delayMs = opts.delayMs ?? 0;
    if (!Number.isFinite(delayMs) || delayMs < 0) {
      throw new BadArgumentsError(
        `DelayQueue: delayMs must be a finite number of milliseconds ≥ 0, got ${delayMs}`,
        this.path,
      );
    }
    const due = Math.ceil(Date.now() + delayMs);
    return this.offerItem(String(due).padStart(15, '0'), data, opts.signal);
  }
}
