/**
 * PriorityQueue: a DistributedQueue whose items carry an integer priority; the item with the
 * *lowest* priority number is taken first (as in Curator's DistributedPriorityQueue), FIFO among
 * equal priorities.
 *
 * ```ts
 * const queue = new PriorityQueue(client, '/jobs/by-priority');
 * await queue.offer('nightly report', { priority: 10 });
 * await queue.offer('page the on-call', { priority: 0 });
 * await queue.take();   // 'page the on-call'
 * ```
 *
 * The priority is encoded in the node name (`_c_<guid>-qn-<priority+2^31, 10 digits>-<seq>`), so
 * ordering needs no extra reads. Because a new item may belong before those already listed, a
 * consumer lists again whenever the children changed: with many consumers and a high offer rate
 * a take costs a listing, so keep priority queues short.
 *
 * Connection states and failure cases: as DistributedQueue (protected offer, exactly-once take,
 * blocked takes reject with SessionLostError on EXPIRED/CLOSED).
 */
import { BadArgumentsError } from '@conclave/core';
import { QueueBase } from './internal/queue-base.js';
import { itemFields } from './internal/queue-core.js';
import { sequenceOf } from './internal/sequence.js';
import type { RecipeClient } from './recipe-client.js';

const OFFSET = 2 ** 31;

/** The priority field of an item name (`_c_<uuid>-qn-PPPPPPPPPP-<seq>`). */
function priorityOf(name: string): number {
  return Number(itemFields(name).slice(0, 10)) - OFFSET;
}

function byPriorityThenSequence(a: string, b: string): number {
  return priorityOf(a) - priorityOf(b) || sequenceOf(a) - sequenceOf(b);
}

export class PriorityQueue extends QueueBase {
  constructor(client: RecipeClient, path: string) {
    super(client, path, { compare: byPriorityThenSequence, newItemsMayJumpAhead: true });
  }

  /** Queues an item; lower `priority` is taken first (a 32-bit signed integer, default 0). */
  async offer(
    data: string | Uint8Array,
    opts: { priority?: number; signal?: AbortSignal } = {},
  ): Promise<string> {
    const priority = opts.priority ?? 0;
    if (!Number.isInteger(priority) || priority < -OFFSET || priority >= OFFSET) {
      throw new BadArgumentsError(
        `PriorityQueue: priority must be an integer in [-2^31, 2^31 - 1], got ${priority}`,
        this.path,
      );
    }
    return this.offerItem(String(priority + OFFSET).padStart(10, '0'), data, opts.signal);
  }
}
