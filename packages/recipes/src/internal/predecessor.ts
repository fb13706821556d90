import type { RecipeClient } from '../recipe-client.js';
import { retryingInSession } from './retry.js';
import type { QueueNode } from './sequence.js';
import type { SessionGuard } from './session-guard.js';
import { sessionWakeup } from './wakeup.js';

/**
 * Whom a queue entry waits for. Returns the predecessor to watch, or undefined when the entry at
 * `index` holds the lock.
 */
export type PredecessorRule = (queue: readonly QueueNode[], index: number) => QueueNode | undefined;

/** Exclusive lock (and ZooKeeper's write lock): wait for the nearest lower node of any kind. */
export const exclusivePredecessor: PredecessorRule = (queue, index) =>
  index > 0 ? queue[index - 1] : undefined;

/** Shared (read) lock: wait only for the nearest lower WRITE node; readers share. */
export const sharedPredecessor: PredecessorRule = (queue, index) => {
  for (let i = index - 1; i >= 0; i--) {
    const node = queue[i]!;
    if (node.kind === 'write') return node;
  }
  return undefined;
};

/**
 * Waits until the queue may have moved for us: the watched predecessor is gone (or changed), or
 * the connection came back (watches are restored by the client, but we re-check anyway because a
 * RECONNECTED is cheap to handle and an unnoticed deletion would stall the queue forever).
 *
 * Only the predecessor is watched — never the parent's children — so one release wakes exactly
 * one waiter instead of the whole queue (the "herd effect" of the naive recipe).
 *
 * Resolves immediately when the predecessor is already gone. Rejects with SessionLostError if the
 * session is lost, or with the signal's reason on abort/timeout.
 */
export async function waitForPredecessor(
  client: RecipeClient,
  guard: SessionGuard,
  predecessorPath: string,
  what: string,
  signal?: AbortSignal,
): Promise<void> {
  // Created before the exists() call so an event firing before we start waiting is not missed.
  const woken = sessionWakeup(guard, predecessorPath, what, signal);
  try {
    const stat = await retryingInSession(
      guard,
      predecessorPath,
      what,
      () => client.exists(predecessorPath, { watch: woken.wake }),
      signal,
    );
    if (stat === null) return;
    await woken.promise;
  } finally {
    woken.cancel();
  }
}
