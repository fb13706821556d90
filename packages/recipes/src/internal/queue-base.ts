import { OperationTimeoutError } from '@conclave/core';
import type { Observable } from 'rxjs';
import type { RecipeClient } from '../recipe-client.js';
import { utf8 } from './codec.js';
import { QueueCore, type QueueLayout } from './queue-core.js';

/** Blocking options of `take()`. */
export interface TakeOptions {
  signal?: AbortSignal;
  /** Give up after this long: `take()` rejects with OperationTimeoutError. */
  timeoutMs?: number;
}

/**
 * What DistributedQueue, PriorityQueue and DelayQueue have in common: everything but `offer()`,
 * whose options differ. The head is the first item in the queue's take order (its QueueLayout)
 * that may be taken now — for a DelayQueue, the earliest item that is due.
 */
export abstract class QueueBase {
  /** @internal */
  protected readonly core: QueueCore;

  constructor(
    client: RecipeClient,
    readonly path: string,
    layout: QueueLayout,
  ) {
    this.core = new QueueCore(client, path, layout);
  }

  /** Removes and returns the head item, waiting until there is one (OperationTimeoutError after `timeoutMs`). */
  async take(opts: TakeOptions = {}): Promise<Uint8Array> {
    const item = await this.core.take(opts, true);
    if (item === null) throw new OperationTimeoutError(`no item arrived in ${opts.timeoutMs} ms`, this.path);
    return item;
  }

  /** Removes and returns the head item, or null when there is none. */
  poll(opts: { signal?: AbortSignal } = {}): Promise<Uint8Array | null> {
    return this.core.take(opts, false);
  }

  /** The head item without removing it, or null when there is none. */
  peek(opts: { signal?: AbortSignal } = {}): Promise<Uint8Array | null> {
    return this.core.peek(opts.signal);
  }

  /** Number of queued items (due or not). */
  size(opts: { signal?: AbortSignal } = {}): Promise<number> {
    return this.core.size(opts.signal);
  }

  /** The queued item names (`_c_<uuid>-qn-…`), in take order: now, then after every change. */
  get items$(): Observable<string[]> {
    return this.core.items$();
  }

  /** Queues `data` as an item whose name carries `orderFields` (see QueueCore.offer). */
  protected offerItem(orderFields: string, data: string | Uint8Array, signal?: AbortSignal): Promise<string> {
    return this.core.offer(orderFields, typeof data === 'string' ? utf8(data) : data, signal);
  }
}
