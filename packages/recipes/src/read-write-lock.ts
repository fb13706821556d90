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
 *
 * Downgrade is allowed: the write holder may take the read lock, and holds it at once (as
 * Curator's readLockPredicate does) — its read node, queued behind any writer of another client,
 * must not wait for that writer, which waits for our write node. While such a foreign writer sits
 * between our write and read nodes, releasing the write lock keeps the write node (and
 * `writeLock.isHeld`) until the read lock is released too: otherwise that writer would be first
 * in the queue and hold the write lock while we read. Upgrade is not allowed — acquiring the write
 * lock while this instance holds only the read lock would wait for itself forever, so it throws
 * BadArgumentsError instead.
 *
 * The algorithm: every entry is `<path>/_c_<guid>-read-<seq>` or `-write-<seq>` in ONE queue.
 *   - a reader holds the lock when no WRITE node is ahead of it, else it watches the nearest
 *     lower write node;
 *   - a writer holds the lock when it is first, else it watches the nearest lower node of any kind.
 * A writer queued behind readers blocks every reader that arrives after it, so writers are not
 * starved; each waiter watches a single node, so a release wakes only those it unblocks.
 */
import { BadArgumentsError, basename, validatePath } from '@conclave/core';
import type { Hold } from './internal/hold.js';
import { exclusivePredecessor, sharedPredecessor } from './internal/predecessor.js';
import { sortQueue } from './internal/sequence.js';
import { Mutex } from './mutex.js';
import type { RecipeClient } from './recipe-client.js';

export class ReadWriteLock {
  readonly path: string;
  /** Shared: any number of holders at once, while no writer holds or waits ahead. */
  readonly readLock: Mutex;
  /** Exclusive: one holder, and no readers. */
  readonly writeLock: Mutex;
  /** A released write hold whose node must outlive the read lock (see the module doc). */
  #deferredWrite: Hold | undefined;

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
      release: async (hold) => {
        const readNode = readLock.node;
        const writeNode = hold.nodes[0]?.path;
        if (readNode !== undefined && writeNode !== undefined) {
          const keep = await foreignWriterBetween(client, this.path, writeNode, readNode);
          // The read lock may have been released during the listing: then nothing needs the node.
          if (keep && readLock.node === readNode) {
            this.#deferredWrite = hold;
            return;
          }
        }
        await hold.release();
      },
    });
    const readLock: Mutex = new Mutex(client, path, {
      name: 'read',
      rule: sharedPredecessor,
      holdsAtOnce: () => writeLock.isHeld,
      release: async (hold) => {
        const deferred = this.#deferredWrite;
        this.#deferredWrite = undefined;
        try {
          await hold.release();
        } finally {
          // Re-acquired meanwhile (count > 0): the write handle's own release deletes it later.
          if (deferred !== undefined && deferred.count === 0) await deferred.release();
        }
      },
    });
    this.readLock = readLock;
    this.writeLock = writeLock;
  }
}

/**
 * True when a write node of someone else lies between our write node and our read node, i.e.
 * that writer would hold the lock while we read if our write node went now. A failed listing
 * answers true: keeping the node a little longer is safe, releasing it wrongly is not.
 */
async function foreignWriterBetween(
  client: RecipeClient,
  path: string,
  writeNode: string,
  readNode: string,
): Promise<boolean> {
  let children: string[];
  try {
    ({ children } = await client.getChildren(path));
  } catch {
    return true;
  }
  const queue = sortQueue(children);
  const write = queue.find((n) => n.name === basename(writeNode));
  const read = queue.find((n) => n.name === basename(readNode));
  if (write === undefined || read === undefined) return true;
  return queue.some((n) => n.kind === 'write' && n.sequence > write.sequence && n.sequence < read.sequence);
}
