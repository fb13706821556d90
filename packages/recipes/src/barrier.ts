/**
 * Barrier: a gate that holds every waiter until someone removes it (ZooKeeper's barrier recipe,
 * Curator's DistributedBarrier). The barrier is up while its znode exists.
 *
 * ```ts
 * const barrier = new Barrier(client, '/app/start-gate');
 * await barrier.set();                                   // coordinator raises it
 * const passed = await barrier.wait({ timeoutMs: 60_000 }); // workers block here
 * await barrier.remove();                                // coordinator lets everyone through
 * ```
 *
 * Connection states: while SUSPENDED `wait()` keeps waiting (the watch is re-registered by the
 * client when it reconnects); on RECONNECTED it checks the node again, so a removal that happened
 * while disconnected is not missed. On EXPIRED/CLOSED `wait()` rejects with SessionLostError;
 * on LOST it keeps waiting (it holds nothing, and the client may come back on the same session). The barrier node is persistent: a coordinator whose session dies leaves the
 * barrier up; someone must `remove()` it.
 *
 * Failure cases: `set()` and `remove()` are idempotent and retried after CONNECTIONLOSS.
 * `wait()` returns false when `timeoutMs` passes and rejects with the signal's reason on abort.
 */
import { parentPath, validatePath } from '@conclave/core';
import type { RecipeClient } from './recipe-client.js';
import { createIfAbsent, deleteIfExists, ensurePath } from './internal/paths.js';
import { retrying } from './internal/retry.js';
import { Waiter } from './internal/waiter.js';

export class Barrier {
  constructor(
    private readonly client: RecipeClient,
    readonly path: string,
  ) {
    validatePath(path);
  }

  /** Raises the barrier (creates its node; already up is fine). */
  async set(opts: { signal?: AbortSignal } = {}): Promise<void> {
    await ensurePath(this.client, parentPath(this.path), opts.signal);
    // NODEEXISTS (already up) is fine: the server answers it only once the create it rests on is
    // applied, so isSet() right after says true either way.
    await createIfAbsent(this.client, this.path, new Uint8Array(0), opts.signal);
  }

  /** Removes the barrier, releasing every waiter (already down is fine). */
  async remove(opts: { signal?: AbortSignal } = {}): Promise<void> {
    await deleteIfExists(this.client, this.path, { signal: opts.signal });
  }

  /** True while the barrier is up. */
  async isSet(opts: { signal?: AbortSignal } = {}): Promise<boolean> {
    return (await retrying(this.client, () => this.client.exists(this.path, opts), opts.signal)) !== null;
  }

  /**
   * Blocks until the barrier is down. Resolves true once it is (at once if it is not set), false
   * if `timeoutMs` passes first.
   */
  async wait(opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<boolean> {
    const waiter = new Waiter(this.client, { ...opts, what: `waiting on the barrier ${this.path}` });
    try {
      for (;;) {
        waiter.check();
        const stat = await retrying(
          this.client,
          () => this.client.exists(this.path, { watch: waiter.wake, signal: opts.signal }),
          opts.signal,
        );
        if (stat === null) return true;
        if (!(await waiter.wait())) return false;
      }
    } finally {
      waiter.dispose();
    }
  }
}
