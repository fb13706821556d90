import {
  ancestors,
  isConclaveError,
  NodeExistsError,
  NoNodeError,
  parentPath,
  validatePath,
} from '@conclave/core';
import type { RecipeClient } from '../recipe-client.js';
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
  for (const p of chain) {
    await retrying(
      client,
      async () => {
        try {
          await client.create(p, new Uint8Array(0), { mode: 'PERSISTENT', signal });
        } catch (err) {
          // Someone else's create (or our retried one): as good as ours. The server answers
          // NODEEXISTS only once the create it rests on is applied, so our next read sees it.
          if (!isConclaveError(err, 'NODEEXISTS')) throw err;
        }
      },
      signal,
    );
  }
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

/** Attempts per level before giving up on a parent that keeps vanishing. */
const MAX_CONTAINER_ATTEMPTS = 8;

/**
 * Creates `path` and any missing ancestors as CONTAINER nodes, tolerating NODEEXISTS (another
 * participant won the race). Containers vanish once their last child goes, so an unused lock
 * leaves nothing behind; the price is that a container may vanish between this call and our
 * create under it — callers handle the resulting NONODE by calling this again.
 *
 * WHY creates and not exists(): a read is answered from the applied state, which may not yet
 * include a delete the server has already accepted (the container cleaner's), while creates are
 * checked against it. Asking with the same kind of request as the one that failed avoids a loop of
 * "exists says yes, create says NONODE". No pause between attempts: the server answers NONODE and
 * NODEEXISTS only once the proposals they rest on are applied, so each retry sees a settled
 * state, and only a new cleanup racing us again makes another round necessary (bounded).
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
  }
}
