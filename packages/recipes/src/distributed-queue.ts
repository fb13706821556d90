/**
 * DistributedQueue: a FIFO queue of byte items shared by any number of producers and consumers in
 * any number of processes; every item is taken exactly once (ZooKeeper's queue recipe, Curator's
 * DistributedQueue / kazoo's LockingQueue semantics without the lock).
 *
 * ```ts
 * const queue = new DistributedQueue(client, '/jobs/queue');
 * await queue.offer('resize photo 17');
 * const item = await queue.take({ signal });   // blocks until an item is there
 * console.log(new TextDecoder().decode(item));
 * ```
 *
 * Algorithm: an item is a persistent-sequential child `_c_<guid>-qn-<seq>`; the sequence number the
 * server appends gives the order. To take, a consumer lists the children (sorted), reads the head
 * and deletes it; only one consumer's delete can succeed, and NONODE means another consumer won,
 * so it tries the next. Consumers work through one listing before listing again (items are only
 * ever appended), which keeps a take at about three round trips even with 10k queued items.
 *
 * Connection states: SUSPENDED → a blocked `take()` keeps waiting; on RECONNECTED it lists again.
 * EXPIRED/CLOSED → blocked calls reject with SessionLostError (a take blocked in its wait keeps
 * waiting through a LOST: it holds nothing). Items are persistent: they
 * survive the death of the producer and of any consumer.
 *
 * Failure cases (CONNECTIONLOSS, the reply of a write lost):
 * - `offer()`: the GUID in the name lets the retry find the item if the first create worked, so
 *   an item is never queued twice.
 * - `take()`: the delete is a multi that also creates a *receipt* node; after reconnecting, the
 *   receipt says whether our take was applied, so an item is neither lost nor taken twice.
 * A consumer that crashes after `take()` resolved but before processing the item loses it (at
 * most once delivery to the application, exactly once removal from the queue): use a lock or a
 * two-step "take into a processing node" design if you need at-least-once processing.
 */
import { QueueBase } from './internal/queue-base.js';
import { bySequence } from './internal/sequence.js';
import type { RecipeClient } from './recipe-client.js';

export class DistributedQueue extends QueueBase {
  constructor(client: RecipeClient, path: string) {
    super(client, path, { compare: bySequence, newItemsMayJumpAhead: false });
  }

  /** Appends an item; resolves with its node path once it is durably queued. */
  offer(data: string | Uint8Array, opts: { signal?: AbortSignal } = {}): Promise<string> {
    return this.offerItem('', data, opts.signal);
  }
}
