import {
  ancestors,
  isConclaveError,
  NodeExistsError,
  NoNodeError,
  parentPath,
  type Stat,
  validatePath,
} from '@conclave/core';
import type { RecipeClient } from '../recipe-client.js';
import { sleep } from './abort.js';
import { retrying, retryingInSession } from './retry.js';
import type { SessionGuard } from './session-guard.js';

/**
 * Making sure the nodes a recipe works under exist, and removing nodes idempotently. Two ways to
 * create the parent, because recipes leave two kinds of things behind:
 * - ensurePath: PERSISTENT nodes (barriers, queues, config, groups, transactions) whose content
 *   outlives any one participant;
 * - ensureContainer: CONTAINER nodes (locks, semaphores, elections) that the server removes once
 *   their last child goes, so an unused lock leaves nothing behind.
 */

/**
 * Creates `path` and its missing ancestors as empty persistent nodes (mkdir -p). A node created
 * concurrently by someone else (NODEEXISTS) is as good as ours.
 */
export async function ensurePath(client: RecipeClient, path: string, signal?: AbortSignal): Promise<void> {
  validatePath(path);
  if (path === '/') return;
  // Fast path: usually everything exists already.
  if ((await retrying(client, () => client.exists(path, { signal }), signal)) !== null) return;
  const chain = [...ancestors(path).reverse().slice(1), path];
  let existed = false;
  for (const p of chain) {
    existed = false;
    await retrying(
      client,
      async () => {
        try {
          await client.create(p, new Uint8Array(0), { mode: 'PERSISTENT', signal });
        } catch (err) {
          if (!isConclaveError(err, 'NODEEXISTS')) throw err;
          existed = true;
        }
      },
      signal,
    );
  }
  if (existed) await awaitVisible(client, path, signal);
}

/**
 * Creates a persistent node unless it exists. Resolves true when this call created it, false on
 * NODEEXISTS — which after a lost reply may be our own retried create, so callers that care what
 * the node holds must read it.
 */
export async function createIfAbsent(
  client: RecipeClient,
  path: string,
  data: Uint8Array,
  signal?: AbortSignal,
): Promise<boolean> {
  return retrying(
    client,
    async () => {
      try {
        await client.create(path, data, { mode: 'PERSISTENT', signal });
        return true;
      } catch (err) {
        if (!isConclaveError(err, 'NODEEXISTS')) throw err;
        return false;
      }
    },
    signal,
  );
}

/** Deletes `path` if it exists; NONODE (someone else deleted it, or our retried delete did) is fine. */
export async function deleteIfExists(
  client: RecipeClient,
  path: string,
  opts: { version?: number; signal?: AbortSignal } = {},
): Promise<boolean> {
  return retrying(
    client,
    async () => {
      try {
        await client.delete(path, opts);
        return true;
      } catch (err) {
        if (isConclaveError(err, 'NONODE')) return false;
        throw err;
      }
    },
    opts.signal,
  );
}

/**
 * After a create failed with NODEEXISTS, waits (bounded) until the node is visible to our reads,
 * and returns its stat (null if it is really gone again, e.g. deleted meanwhile).
 *
 * Why: the standalone server answers an error like NODEEXISTS as soon as prep sees the conflict,
 * which may be another session's create that is proposed but not yet applied; a read we send
 * right after can then still miss the node. (ZooKeeper orders error txns behind the outstanding
 * proposals, so there the first read already sees it and this returns at once.)
 */
export async function awaitVisible(
  client: RecipeClient,
  path: string,
  signal?: AbortSignal,
): Promise<Stat | null> {
  for (let attempt = 1; attempt <= 60; attempt++) {
    const stat = await retrying(client, () => client.exists(path, { signal }), signal);
    if (stat !== null) return stat;
    await new Promise((r) => setTimeout(r, Math.min(50, attempt * 5)));
  }
  return null;
}

/** Attempts per level before giving up on a parent that keeps vanishing. */
const MAX_CONTAINER_ATTEMPTS = 8;

/**
 * Creates `path` and any missing ancestors as CONTAINER nodes, tolerating NODEEXISTS (another
 * participant won the race). Containers vanish once their last child goes, so an unused lock
 * leaves nothing behind; the price is that a container may vanish between this call and our
 * create under it — callers handle the resulting NONODE by calling this again.
 *
 * WHY creates and not exists(): a read may be served from state that does not yet include a
 * delete the server has already accepted (the container cleaner's), while creates are checked
 * against it. Asking with the same kind of request as the one that failed avoids a loop of
 * "exists says yes, create says NONODE".
 */
export async function ensureContainer(
  client: RecipeClient,
  guard: SessionGuard,
  path: string,
  signal?: AbortSignal,
): Promise<void> {
  if (path === '/') return;
  const what = 'creating the recipe node';
  for (let attempt = 0; ; attempt++) {
    try {
      await retryingInSession(
        guard,
        path,
        what,
        () => client.create(path, '', { mode: 'CONTAINER' }),
        signal,
      );
      return;
    } catch (err) {
      if (err instanceof NodeExistsError) return;
      if (!(err instanceof NoNodeError) || attempt >= MAX_CONTAINER_ATTEMPTS) throw err;
    }
    // NONODE: an ancestor is missing (or was just cleaned up); the depth of the path bounds this.
    await ensureContainer(client, guard, parentPath(path), signal);
    if (attempt > 0) await sleep(2 ** attempt, signal);
  }
}
