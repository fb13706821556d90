import {
  CreateMode,
  ErrorCode,
  isConclaveError,
  joinPath,
  type MultiOp,
  OPEN_ACL_UNSAFE,
  validatePath,
} from '@conclave/core';
import { map, type Observable } from 'rxjs';
import type { RecipeClient } from '../recipe-client.js';
import { sleep, throwIfAborted } from './abort.js';
import { multiOutcome } from './multi.js';
import { newGuid, protectedPrefix, unprotected } from './names.js';
import { findProtectedChild } from './protected-node.js';
import { ensurePath } from './paths.js';
import { backoffMs, isRetryable, MAX_ATTEMPTS, retrying, whenConnected } from './retry.js';
import { Waiter } from './waiter.js';
import { watchChildren } from './watch-node.js';

/**
 * An item's name after its protected prefix starts with this: `_c_<uuid>-qn-<order fields><seq>`.
 * Anything else under the queue path (take receipts) is not an item.
 */
export const ITEM_PREFIX = 'qn-';

/** True for the name of a queue item (not a take receipt). */
export function isItem(name: string): boolean {
  return unprotected(name).startsWith(ITEM_PREFIX);
}

/** The order fields and sequence of an item name: the part after `_c_<uuid>-qn-`. */
export function itemFields(name: string): string {
  return unprotected(name).slice(ITEM_PREFIX.length);
}

/** Take receipts: see `QueueCore.tryTake`. */
const RECEIPT_PREFIX = 'tk-';

/** What differs between the FIFO, priority and delay queues: how items are named and ordered. */
export interface QueueLayout {
  /** Compares two item names: negative when `a` must be taken first. */
  compare(a: string, b: string): number;
  /** When the item may be taken (ms since the epoch), for the delay queue. */
  dueAtMs?(name: string): number;
  /**
   * True when a newly offered item may have to be taken before items already listed (priority,
   * delay): then a consumer re-lists whenever the children changed instead of working through its
   * last listing first. A FIFO queue only appends, so its last listing stays valid.
   */
  newItemsMayJumpAhead: boolean;
}

/**
 * The machinery shared by DistributedQueue, PriorityQueue and DelayQueue: sequential item nodes
 * under one path, offered with a protected name and taken exactly once.
 */
export class QueueCore {
  private ensured = false;
  /** Item names from our last listing, in take order, not yet tried by this instance. */
  private cache: string[] = [];
  /** Set when the children watch fired (or we never listed): our cache may be stale. */
  private dirty = true;
  private readonly wakers = new Set<() => void>();
  private readonly consumerGuid = newGuid();
  /** Our last take receipt, deleted in the same multi as the next take. */
  private lastReceipt: string | undefined;

  constructor(
    private readonly client: RecipeClient,
    readonly path: string,
    private readonly layout: QueueLayout,
  ) {
    validatePath(path);
  }

  /**
   * Adds an item named `_c_<uuid>-qn-<orderFields>-<seq>` (`_c_<uuid>-qn-<seq>` when `orderFields`
   * is empty); returns its path.
   */
  async offer(orderFields: string, data: Uint8Array, signal?: AbortSignal): Promise<string> {
    await this.ensure(signal);
    const prefix = protectedPrefix(newGuid(), orderFields === '' ? 'qn' : `${ITEM_PREFIX}${orderFields}`);
    const base = joinPath(this.path, prefix);
    for (let attempt = 1; ; attempt++) {
      throwIfAborted(signal);
      try {
        return await this.client.create(base, data, { mode: 'PERSISTENT_SEQUENTIAL', signal });
      } catch (err) {
        if (!isRetryable(err) || attempt >= MAX_ATTEMPTS) throw err;
        // The create may have been applied with its reply lost: look for our GUID before retrying,
        // or the item would be in the queue twice.
        await sleep(backoffMs(attempt), signal);
        await whenConnected(this.client, signal);
        const ours = await retrying(
          this.client,
          () => findProtectedChild(this.client, this.path, prefix, signal),
          signal,
        );
        if (ours !== undefined) return ours;
      }
    }
  }

  /** Takes the head item, waiting for one; false from the waiter (timeout) gives null. */
  async take(opts: { signal?: AbortSignal; timeoutMs?: number }, block: boolean): Promise<Uint8Array | null> {
    await this.ensure(opts.signal);
    const waiter = new Waiter(this.client, { ...opts, what: `taking from the queue ${this.path}` });
    this.wakers.add(waiter.wake);
    try {
      for (;;) {
        waiter.check();
        const listedNow = this.cache.length === 0 || (this.dirty && this.layout.newItemsMayJumpAhead);
        if (listedNow) await this.list(opts.signal);
        let waitMs: number | undefined;
        while (this.cache.length > 0) {
          const head = this.cache[0] as string;
          const due = this.layout.dueAtMs?.(head);
          if (due !== undefined && due > Date.now()) {
            waitMs = due - Date.now();
            break;
          }
          this.cache.shift();
          const data = await this.tryTake(head, opts.signal);
          if (data !== null) return data;
          waiter.check();
        }
        // Only an empty *fresh* listing means empty: a stale one may predate newer items, and a
        // children watch that fired since our listing (dirty) means there is something to see.
        if ((this.cache.length === 0 && !listedNow) || this.dirty) {
          if (waiter.remainingMs() <= 0) return null; // constant churn must not outlive timeoutMs
          continue;
        }
        if (!block) return null;
        // Empty (or the head is not due): wait for the children watch armed by our last listing,
        // or for the head to become due.
        if (!(await waiter.wait(waitMs))) return null;
        this.dirty = true;
        if (this.layout.newItemsMayJumpAhead || waitMs === undefined) this.cache = [];
      }
    } finally {
      this.wakers.delete(waiter.wake);
      waiter.dispose();
    }
  }

  /** The head item's data without taking it, or null when empty (or no item is due yet). */
  async peek(signal?: AbortSignal): Promise<Uint8Array | null> {
    for (let i = 0; i < 100; i++) {
      const items = await this.items(signal);
      const head = items[0];
      if (head === undefined) return null;
      const due = this.layout.dueAtMs?.(head);
      if (due !== undefined && due > Date.now()) return null;
      try {
        const { data } = await retrying(
          this.client,
          () => this.client.getData(joinPath(this.path, head), { signal }),
          signal,
        );
        return data;
      } catch (err) {
        if (!isConclaveError(err, 'NONODE')) throw err; // taken meanwhile: look again
      }
    }
    throw new Error(`invariant: the head of ${this.path} vanished 100 times in a row`);
  }

  /** Number of items in the queue (due or not). */
  async size(signal?: AbortSignal): Promise<number> {
    return (await this.items(signal)).length;
  }

  /** The item node names in take order, now and after every change. */
  items$(): Observable<string[]> {
    return watchChildren(this.client, this.path).pipe(
      map((children) => (children ?? []).filter(isItem).sort(this.layout.compare)),
    );
  }

  private async items(signal?: AbortSignal): Promise<string[]> {
    try {
      const { children } = await retrying(
        this.client,
        () => this.client.getChildren(this.path, { signal }),
        signal,
      );
      return children.filter(isItem).sort(this.layout.compare);
    } catch (err) {
      if (isConclaveError(err, 'NONODE')) return [];
      throw err;
    }
  }

  private async list(signal?: AbortSignal): Promise<void> {
    this.dirty = false;
    const { children } = await retrying(
      this.client,
      () => this.client.getChildren(this.path, { watch: this.onChildren, signal }),
      signal,
    );
    this.cache = children.filter(isItem).sort(this.layout.compare);
  }

  private readonly onChildren = (): void => {
    this.dirty = true;
    for (const wake of this.wakers) wake();
  };

  /**
   * Takes one item: exactly one consumer's delete of an item node succeeds; NONODE means another
   * consumer got it first. The delete runs in a multi with the creation of a *receipt* (an
   * ephemeral node whose name is ours and the item's): if the reply is lost, the receipt tells us
   * whether our take was applied — without it a lost reply would either lose the item or, on a
   * blind retry, hand it out twice. The previous receipt is deleted in the same multi, so each
   * consumer leaves at most one behind (and the session's end removes that one).
   */
  private async tryTake(name: string, signal?: AbortSignal): Promise<Uint8Array | null> {
    const itemPath = joinPath(this.path, name);
    let data: Uint8Array;
    try {
      data = (await retrying(this.client, () => this.client.getData(itemPath, { signal }), signal)).data;
    } catch (err) {
      if (isConclaveError(err, 'NONODE')) return null;
      throw err;
    }
    const receipt = joinPath(this.path, `${RECEIPT_PREFIX}${this.consumerGuid}-${name}`);
    const ops: MultiOp[] = [
      { op: 'delete', path: itemPath, version: -1 },
      {
        op: 'create',
        path: receipt,
        data: new Uint8Array(0),
        acl: [...OPEN_ACL_UNSAFE],
        mode: CreateMode.EPHEMERAL,
      },
    ];
    if (this.lastReceipt !== undefined) ops.push({ op: 'delete', path: this.lastReceipt, version: -1 });
    for (let attempt = 1; ; attempt++) {
      try {
        const { errno, path } = await multiOutcome(this.client, ops, signal);
        if (errno === 0) {
          this.lastReceipt = receipt;
          return data;
        }
        if (errno === ErrorCode.NONODE) {
          // Usually another consumer took the item. If it is our previous receipt that is missing
          // (only possible if our session ended), or we cannot tell, retry without deleting it.
          if (ops.length === 3 && path !== itemPath) {
            ops.pop();
            this.lastReceipt = undefined;
            continue;
          }
          return null;
        }
        throw new Error(`invariant: taking ${itemPath} failed with errno ${errno}`);
      } catch (err) {
        if (!isRetryable(err) || attempt >= MAX_ATTEMPTS) throw err;
        await sleep(backoffMs(attempt), signal);
        await whenConnected(this.client, signal);
        // sync() first: the lost multi may still be in flight on the server, and our read (on a new
        // connection) is not ordered behind it. Without it we could miss the receipt, retry, get
        // NONODE for the item our own first multi deleted, and lose the item.
        const applied = await retrying(
          this.client,
          async () => {
            await this.client.sync?.(this.path, { signal });
            return this.client.exists(receipt, { signal });
          },
          signal,
        );
        if (applied !== null) {
          this.lastReceipt = receipt;
          return data;
        }
        // Not applied: try again (if someone else took it meanwhile, we get NONODE).
      }
    }
  }

  private async ensure(signal?: AbortSignal): Promise<void> {
    if (this.ensured) return;
    await ensurePath(this.client, this.path, signal);
    this.ensured = true;
  }
}
