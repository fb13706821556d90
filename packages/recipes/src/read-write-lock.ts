/**
 * ReadWriteLock — ZooKeeper's shared-lock recipe (Curator's InterProcessReadWriteLock).
 *
 * ```ts
 * const rw = new ReadWriteLock(client, '/locks/catalog');
 * { await using r = await rw.readLock.acquire(); render(await load()); }   // readers share
 * { await using w = await rw.writeLock.acquire({ timeoutMs: 10_000 }); await save(); } // writers exclude
 * ```
 *
 * `readLock` and `writeLock` are Mutex objects with the same handles, options, errors and
 * connection-state semantics as {@link Mutex} (SUSPENDED: the hold may be gone, wait for 'held'
 * again; LOST: it is gone, `lost$` fires). Both are reentrant per ReadWriteLock instance.
 * Downgrade is allowed (the write holder may take the read lock: its own write node is ignored);
 * upgrade is not — acquiring the write lock while this instance holds the read lock would wait for
 * itself forever, so it throws BadArgumentsError instead.
 *
 * The algorithm: every entry is `<path>/_c_<guid>-read-<seq>` or `-write-<seq>` in ONE queue.
 *   - a reader holds the lock when no WRITE node is ahead of it, else it watches the nearest
 *     lower write node;
 *   - a writer holds the lock when it is first, else it watches the nearest lower node of any kind.
 * A writer queued behind readers blocks every reader that arrives after it, so writers are not
 * starved; each waiter watches a single node, so a release wakes only those it unblocks.
 */
import { BadArgumentsError, basename, validatePath } from '@conclave/core';
import type { RecipeClient } from './recipe-client.js';
import { Mutex } from './mutex.js';
import { exclusivePredecessor, sharedPredecessor } from './internal/predecessor.js';

export class ReadWriteLock {
  readonly path: string;
  /** Shared: any number of holders at once, while no writer holds or waits ahead. */
  readonly readLock: Mutex;
  /** Exclusive: one holder, and no readers. */
  readonly writeLock: Mutex;

  constructor(client: RecipeClient, path: string) {
    this.path = validatePath(path);
    const writeLock: Mutex = new Mutex(client, path, {
      name: 'write',
      rule: exclusivePredecessor,
      check: () => {
        if (readLock.isHeld && !writeLock.isHeld) {
          throw new BadArgumentsError(
            'cannot upgrade a read lock to a write lock (it would wait for itself): release the read lock first',
            path,
          );
        }
      },
    });
    const readLock: Mutex = new Mutex(client, path, {
      name: 'read',
      rule: sharedPredecessor,
      ignore: () => {
        const own = writeLock.node;
        return own === undefined ? new Set() : new Set([basename(own)]);
      },
    });
    this.readLock = readLock;
    this.writeLock = writeLock;
  }
}
