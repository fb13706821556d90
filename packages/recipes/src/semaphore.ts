/**
 * Semaphore — at most `maxLeases` holders at a time (Curator's InterProcessSemaphoreV2).
 *
 * ```ts
 * const pool = new Semaphore(client, '/semaphores/db-connections', { maxLeases: 10 });
 * await using lease = await pool.acquire({ count: 2, timeoutMs: 5_000 });
 * lease.lost$.subscribe(() => abortQueries());
 * ```
 *
 * Every participant must use the same `maxLeases`: it is not stored in ZooKeeper.
 *
 * Connection states (watch `lease.state$`, or at least `lease.lost$`):
 * - SUSPENDED: the lease nodes may or may not still exist; `state$` says 'suspended'. On
 *   RECONNECTED with the same session the leases were never lost ('held' again).
 * - LOST / EXPIRED / CLOSED: the session is gone and so are its lease nodes; others may take them.
 *   `lost$` emits. Waiting acquires reject with SessionLostError.
 *
 * Failure cases: `timeoutMs` → LockTimeoutError; abort → the signal's reason; session lost →
 * SessionLostError; `count` < 1 or > maxLeases → BadArgumentsError. On any failure the leases
 * created so far are deleted, and the internal lock is released.
 *
 * The algorithm:
 *   1. take the internal Mutex `<path>/locks` — only one acquirer at a time adds leases, so the
 *      count of lease nodes it sees is exact, and two multi-lease acquirers cannot each hold part
 *      of what they need (we keep the lock for all `count` leases; Curator re-locks per lease);
 *   2. for each lease: create `<path>/leases/_c_<guid>-lease-<seq>` (protected, ephemeral-seq);
 *   3. list `<path>/leases` WITH a child watch; if there are ≤ maxLeases nodes the lease is ours,
 *      else wait for the children to change (a release) and go to 3;
 *   4. release the internal lock. Only the lock holder watches the leases, so there is no herd.
 */
import { BadArgumentsError, joinPath, validatePath } from '@conclave/core';
import type { Observable } from 'rxjs';
import { deadlineSignal } from './internal/abort.js';
import type { RecipeClient } from './recipe-client.js';
import { SessionGuard } from './internal/session-guard.js';
import { LockTimeoutError } from './errors.js';
import { Hold, type HoldState } from './internal/hold.js';
import { type AcquireOptions, Mutex } from './mutex.js';
import { ProtectedNode } from './internal/protected-node.js';
import { retryingInSession } from './internal/retry.js';
import { sessionWakeup } from './internal/wakeup.js';

export interface SemaphoreOptions {
  /** How many leases may be held at once, across all participants (≥ 1). */
  maxLeases: number;
}

export interface LeaseAcquireOptions extends AcquireOptions {
  /** How many leases to take at once (default 1, at most maxLeases). */
  count?: number;
}

/** `count` leases, released together. */
export interface Lease extends AsyncDisposable {
  /** Full paths of the lease nodes. */
  readonly nodes: readonly string[];
  readonly state$: Observable<HoldState>;
  readonly lost$: Observable<string>;
  readonly isHeld: boolean;
  release(): Promise<void>;
}

export class Semaphore {
  readonly path: string;
  readonly maxLeases: number;
  readonly #locksPath: string;
  readonly #leasesPath: string;

  constructor(
    readonly client: RecipeClient,
    path: string,
    opts: SemaphoreOptions,
  ) {
    this.path = validatePath(path);
    if (!Number.isInteger(opts.maxLeases) || opts.maxLeases < 1) {
      throw new BadArgumentsError(`maxLeases must be an integer ≥ 1, got ${opts.maxLeases}`, path);
    }
    this.maxLeases = opts.maxLeases;
    this.#locksPath = joinPath(path, 'locks');
    this.#leasesPath = joinPath(path, 'leases');
  }

  /** Waits for `count` leases. See the module doc for the failure cases. */
  async acquire(opts: LeaseAcquireOptions = {}): Promise<Lease> {
    const count = opts.count ?? 1;
    if (!Number.isInteger(count) || count < 1 || count > this.maxLeases) {
      throw new BadArgumentsError(
        `count must be an integer in [1, ${this.maxLeases}], got ${count}`,
        this.path,
      );
    }
    const deadline = deadlineSignal(
      opts.signal,
      opts.timeoutMs,
      () => new LockTimeoutError(this.path, opts.timeoutMs ?? 0, 'semaphore lease'),
    );
    const signal = deadline.signal;
    const guard = new SessionGuard(this.client);
    const nodes: ProtectedNode[] = [];
    const what = 'acquiring a semaphore lease';
    // A fresh Mutex per call: a shared one would make concurrent acquires reenter each other's lock.
    const lock = await new Mutex(this.client, this.#locksPath).acquire({ signal }).catch((err) => {
      deadline.dispose();
      guard.close();
      throw err;
    });
    try {
      for (let i = 0; i < count; i++) {
        const node = new ProtectedNode(this.client, guard, this.#leasesPath, 'lease');
        nodes.push(node);
        await node.create(new Uint8Array(0), signal);
        for (;;) {
          const changed = sessionWakeup(guard, this.path, 'waiting for a lease', signal);
          const { children } = await retryingInSession(
            guard,
            this.#leasesPath,
            what,
            () => this.client.getChildren(this.#leasesPath, { watch: changed.wake }),
            signal,
          );
          if (children.length <= this.maxLeases) {
            changed.cancel();
            break;
          }
          await changed.promise;
        }
      }
      return this.#lease(new Hold(nodes, guard, () => {}));
    } catch (err) {
      await Promise.all(nodes.map((n) => n.remove().catch(() => {})));
      guard.close();
      throw err;
    } finally {
      await lock.release().catch(() => {});
      deadline.dispose();
    }
  }

  #lease(hold: Hold): Lease {
    const release = () => hold.release();
    return {
      nodes: hold.nodes.map((n) => n.path!),
      state$: hold.state$.asObservable(),
      lost$: hold.lost$,
      get isHeld() {
        return hold.isHeld;
      },
      release,
      [Symbol.asyncDispose]: release,
    };
  }
}
