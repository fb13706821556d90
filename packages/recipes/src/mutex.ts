/**
 * Mutex — a distributed, reentrant, fair (FIFO) lock: ZooKeeper's lock recipe, Curator's
 * InterProcessMutex.
 *
 * ```ts
 * const mutex = new Mutex(client, '/locks/invoice-42');
 * await using lock = await mutex.acquire({ timeoutMs: 5_000 });
 * lock.lost$.subscribe(() => stopWriting());   // the session died while we held it
 * // ... critical section; released when `lock` goes out of scope
 * ```
 *
 * Connection states (watch `handle.state$`, or at least `handle.lost$`):
 * - SUSPENDED: the connection is down; the session — and so our lock node — may still live, but
 *   we cannot know. `state$` says 'suspended': stop touching what the lock protects until it is
 *   'held' again (RECONNECTED on the same session: the lock was never lost).
 * - LOST / EXPIRED / CLOSED: the session is gone; the server deleted our node and the next
 *   waiter may already hold the lock. `lost$` emits, `state$` says 'lost'. Waiting acquires
 *   reject with SessionLostError.
 *
 * Failure cases: `timeoutMs` elapsed → LockTimeoutError; `signal` aborted → the signal's reason;
 * session lost → SessionLostError. In every failure our queue node is deleted before the promise
 * rejects (or, if the connection is down at that moment, as soon as it is back while the session
 * lives — after that the server deletes it with the session).
 *
 * Reentrancy: counted per Mutex INSTANCE (JavaScript has no threads to own a lock): a second
 * acquire on an instance that holds the lock returns at once, and the node is deleted when every
 * handle has been released. Give each independent owner its own Mutex.
 *
 * The algorithm (one loop, below in `#enterQueue`):
 *   1. create `<path>/_c_<guid>-lock-<seq>` (EPHEMERAL_SEQUENTIAL, parent a CONTAINER); after a
 *      connection loss find our node by its GUID instead of creating a second one;
 *   2. list the children, sort by sequence; if ours is first, we hold the lock;
 *   3. otherwise watch only our predecessor (exists + watch) and go to 2 when it changes.
 */
import { basename, joinPath, validatePath } from '@conclave/core';
import type { Observable } from 'rxjs';
import { deadlineSignal, raceAbort } from './internal/abort.js';
import type { RecipeClient } from './recipe-client.js';
import { SessionGuard } from './internal/session-guard.js';
import { LockTimeoutError } from './errors.js';
import { Hold, type HoldState } from './internal/hold.js';
import { exclusivePredecessor, type PredecessorRule, waitForPredecessor } from './internal/predecessor.js';
import { ProtectedNode } from './internal/protected-node.js';
import { retryingInSession } from './internal/retry.js';
import { sortQueue } from './internal/sequence.js';

/** Options of every blocking acquire. */
export interface AcquireOptions {
  /** Abort the wait: the promise rejects with `signal.reason` and our node is removed. */
  signal?: AbortSignal;
  /** Give up after this many milliseconds with LockTimeoutError (default: wait forever). */
  timeoutMs?: number;
}

/** What `acquire` returns. Release it exactly once (extra calls are no-ops), or `await using` it. */
export interface LockHandle extends AsyncDisposable {
  /** Full path of our lock node. */
  readonly node: string;
  /** 'held' | 'suspended' | 'lost' | 'released', current value first. */
  readonly state$: Observable<HoldState>;
  /** Emits once (the state that ended the session) if the session is lost while held. */
  readonly lost$: Observable<string>;
  /** True until released or lost (also while 'suspended'). */
  readonly isHeld: boolean;
  release(): Promise<void>;
}

/**
 * How one kind of queue entry behaves: its name and whom it waits for (@internal: used by
 * ReadWriteLock; a plain Mutex is `exclusive`).
 */
export interface LockKind {
  readonly name: string;
  readonly rule: PredecessorRule;
  /**
   * True when this instance already excludes everyone this entry must wait for, so the entry holds
   * as soon as its node exists (a write holder taking its own read lock: a downgrade).
   */
  holdsAtOnce?(): boolean;
  /** Throws when acquiring now would deadlock (read → write upgrade). */
  check?(): void;
  /** Ends a hold once its last handle is released (default: delete the node at once). */
  release?(hold: Hold): Promise<void>;
}

const EXCLUSIVE: LockKind = { name: 'lock', rule: exclusivePredecessor };

export class Mutex {
  readonly path: string;
  #hold: Hold | undefined;
  #inFlight: Promise<unknown> | undefined;

  /**
   * @param client a connected client (see RecipeClient)
   * @param path the lock's znode; created (with missing ancestors) as a CONTAINER on first use
   * @param kind @internal — ReadWriteLock's read/write flavours
   */
  constructor(
    readonly client: RecipeClient,
    path: string,
    readonly kind: LockKind = EXCLUSIVE,
  ) {
    this.path = validatePath(path);
  }

  /** True while this instance holds the lock (also while 'suspended'). */
  get isHeld(): boolean {
    return this.#hold?.isHeld ?? false;
  }

  /** How many unreleased handles this instance has handed out. */
  get holdCount(): number {
    return this.isHeld ? this.#hold!.count : 0;
  }

  /** Our lock node while held. */
  get node(): string | undefined {
    return this.isHeld ? this.#hold!.nodes[0]?.path : undefined;
  }

  /** Waits for the lock. See the module doc for the failure cases. */
  async acquire(opts: AcquireOptions = {}): Promise<LockHandle> {
    const deadline = deadlineSignal(
      opts.signal,
      opts.timeoutMs,
      () => new LockTimeoutError(this.path, opts.timeoutMs ?? 0),
    );
    try {
      // Concurrent acquires on one instance line up behind the one in flight, then re-enter it.
      while (this.#inFlight !== undefined) {
        await raceAbort(
          this.#inFlight.catch(() => {}),
          deadline.signal,
        );
      }
      if (this.#hold?.isHeld) {
        this.#hold.count++;
        return this.#handle(this.#hold);
      }
      this.kind.check?.();
      const entering = this.#enterQueue(deadline.signal);
      this.#inFlight = entering;
      try {
        const hold = await entering;
        this.#hold = hold;
        return this.#handle(hold);
      } finally {
        this.#inFlight = undefined;
      }
    } finally {
      deadline.dispose();
    }
  }

  /** The recipe: create our node, then wait until nothing we must respect is ahead of it. */
  async #enterQueue(signal: AbortSignal | undefined): Promise<Hold> {
    const guard = new SessionGuard(this.client);
    const node = new ProtectedNode(this.client, guard, this.path, this.kind.name);
    const what = this.kind.name === 'lock' ? 'acquiring the lock' : `acquiring the ${this.kind.name} lock`;
    try {
      await node.create(new Uint8Array(0), signal);
      for (;;) {
        signal?.throwIfAborted();
        const { children } = await retryingInSession(
          guard,
          this.path,
          what,
          () => this.client.getChildren(this.path),
          signal,
        );
        const queue = sortQueue(children);
        const index = queue.findIndex((n) => n.name === basename(node.path!));
        if (index < 0) {
          // Our node vanished although the session lives (someone deleted it): queue again, at the back.
          node.path = undefined;
          await node.create(new Uint8Array(0), signal);
          continue;
        }
        const predecessor = this.kind.holdsAtOnce?.() ? undefined : this.kind.rule(queue, index);
        if (predecessor === undefined) {
          return new Hold([node], guard, () => {
            if (this.#hold?.nodes[0] === node) this.#hold = undefined;
          });
        }
        await waitForPredecessor(this.client, guard, joinPath(this.path, predecessor.name), what, signal);
      }
    } catch (err) {
      await node.remove().catch(() => {});
      guard.close();
      throw err;
    }
  }

  #handle(hold: Hold): LockHandle {
    const nodePath = hold.nodes[0]?.path;
    if (nodePath === undefined) throw new Error('invariant: a hold has a created node');
    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      if (--hold.count > 0) return;
      await (this.kind.release?.(hold) ?? hold.release());
    };
    return {
      node: nodePath,
      state$: hold.state$.asObservable(),
      lost$: hold.lost$,
      get isHeld() {
        return !released && hold.isHeld;
      },
      release,
      [Symbol.asyncDispose]: release,
    };
  }
}
