/**
 * nextId: cluster-unique, monotonically increasing ids — the "naming service" of ZooKeeper's
 * recipes. Each call creates a persistent-sequential node under `path`; the sequence number the
 * server appended is the id; the node is then deleted (it was only a ticket).
 *
 * ```ts
 * const orderId = await nextId(client, '/ids/orders');   // e.g. 41, then 43, ...
 * ```
 *
 * Guarantees: ids from one path are unique across all clients, and strictly increasing in the
 * order the creates were applied (linearizable: an id handed out after another call *returned* is
 * larger). They are not dense: every create and delete under the path advances the parent's
 * cversion, so ids skip numbers. The counter is the parent's 32-bit cversion: after 2^31 ids the
 * sequence overflows (ZooKeeper semantics) — use several paths if you need more.
 *
 * Connection states: nothing is held, so SUSPENDED only delays the call; on LOST/EXPIRED it
 * rejects with SessionLostError. Failure cases: a create whose reply is lost is retried; the
 * GUID in the ticket's name lets the retry find the ticket it already created, so no id is lost and
 * no ticket leaks. Deleting the ticket is best effort (a leaked ticket only costs a little space).
 */
import { joinPath, validatePath } from '@conclave/core';
import type { RecipeClient } from './recipe-client.js';
import { newGuid, protectedPrefix } from './internal/names.js';
import { findProtectedChild } from './internal/protected-node.js';
import { sequenceOf } from './internal/sequence.js';
import { ensurePath } from './internal/paths.js';
import { backoffMs, isRetryable, MAX_ATTEMPTS, retrying, whenConnected } from './internal/retry.js';
import { sleep, throwIfAborted } from './internal/abort.js';

const ensured = new WeakMap<RecipeClient, Set<string>>();

/** Returns the next id from the sequence at `path` (created on first use). */
export async function nextId(
  client: RecipeClient,
  path: string,
  opts: { signal?: AbortSignal } = {},
): Promise<number> {
  validatePath(path);
  const { signal } = opts;
  let seen = ensured.get(client);
  if (seen === undefined) ensured.set(client, (seen = new Set()));
  if (!seen.has(path)) {
    await ensurePath(client, path, signal);
    seen.add(path);
  }
  const prefix = protectedPrefix(newGuid(), 'id');
  let ticket: string | undefined;
  for (let attempt = 1; ticket === undefined; attempt++) {
    throwIfAborted(signal);
    try {
      ticket = await client.create(joinPath(path, prefix), new Uint8Array(0), {
        mode: 'PERSISTENT_SEQUENTIAL',
        signal,
      });
    } catch (err) {
      if (!isRetryable(err) || attempt >= MAX_ATTEMPTS) throw err;
      await sleep(backoffMs(attempt), signal);
      await whenConnected(client, signal);
      ticket = await retrying(client, () => findProtectedChild(client, path, prefix, signal), signal);
    }
  }
  const id = sequenceOf(ticket);
  if (!Number.isInteger(id)) throw new Error(`invariant: ${ticket} has no sequence suffix`);
  // The ticket has done its job; do not make the caller wait for its removal.
  client.delete(ticket).catch(() => {});
  return id;
}
