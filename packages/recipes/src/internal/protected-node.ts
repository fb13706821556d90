import { basename, joinPath, NoNodeError, SessionExpiredError } from '@conclave/core';
import { SessionLostError } from '../errors.js';
import type { RecipeClient } from '../recipe-client.js';
import { sleep, throwIfAborted } from './abort.js';
import { findProtected, newGuid, protectedPrefix } from './names.js';
import { ensureContainer } from './paths.js';
import { backoffMs, isRetryable, MAX_ATTEMPTS, toSessionLost } from './retry.js';
import type { SessionGuard } from './session-guard.js';

/** Attempts at creating a node under a container that keeps vanishing (cleanup races). */
const MAX_PARENT_RETRIES = 16;

/**
 * The child of `parent` whose name starts with `prefix` (a protectedPrefix: our GUID), or
 * undefined if there is none (or no parent). For the lookup after a create failed with a
 * retryable error, whatever kind of protected node it made.
 *
 * WHY sync() first, although it costs a round trip: the lost create may still be in the
 * server's pipeline — proposed, not yet applied — when we ask again. Reads are ordered only
 * within one connection, and ours is a new one (or, in an ensemble, another server), so a plain
 * getChildren could be answered before that create is applied, miss our node, and make us
 * create a second one: an orphan that blocks a lock queue until our session ends, or an item
 * queued twice. sync() is answered only once everything proposed before it is applied (on a
 * follower: once it has caught up with the leader). It runs only on this recovery path, never
 * on a normal acquire or hand-off.
 */
export async function findProtectedChild(
  client: RecipeClient,
  parent: string,
  prefix: string,
  signal?: AbortSignal,
): Promise<string | undefined> {
  let children: string[];
  try {
    await client.sync?.(parent, { signal });
    ({ children } = await client.getChildren(parent, { signal }));
  } catch (err) {
    if (err instanceof NoNodeError) return undefined;
    throw err;
  }
  const name = findProtected(children, prefix);
  return name === undefined ? undefined : joinPath(parent, name);
}

/**
 * A "protected" ephemeral-sequential node: `<parent>/_c_<guid>-<kind>-<seq>` (see names.ts).
 *
 * WHY the GUID: a create can succeed on the server while its reply is lost with the connection.
 * A blind retry would then leave a second node in the queue — an orphan that blocks everyone
 * behind it until our session ends. So after a connection loss we first list the parent and look
 * for a child carrying our GUID; only when there is none do we create again.
 */
export class ProtectedNode {
  readonly guid = newGuid();
  /** The full path once created (and found), else undefined. */
  path: string | undefined;

  constructor(
    readonly client: RecipeClient,
    readonly guard: SessionGuard,
    readonly parent: string,
    readonly kind: string,
  ) {}

  /** Our name prefix: everything before the sequence suffix. */
  get prefix(): string {
    return protectedPrefix(this.guid, this.kind);
  }

  /** Creates the node (or finds the one a lost reply created). Returns its full path. */
  async create(data: string | Uint8Array, signal?: AbortSignal): Promise<string> {
    const what = `creating a ${this.kind} node`;
    let needLookup = false;
    let parentRetries = 0;
    for (let attempt = 1; ; attempt++) {
      throwIfAborted(signal);
      this.guard.assertAlive(this.parent, what);
      try {
        if (needLookup) {
          const found = await this.find();
          if (found !== undefined) return (this.path = found);
        }
        const created = await this.client.create(joinPath(this.parent, this.prefix), data, {
          mode: 'EPHEMERAL_SEQUENTIAL',
        });
        return (this.path = joinPath(this.parent, basename(created)));
      } catch (err) {
        if (err instanceof NoNodeError && parentRetries++ < MAX_PARENT_RETRIES) {
          // The parent container is missing (first use) or was just cleaned up: make it and try
          // again. Only a new cleanup racing us each time could repeat this, hence the bound.
          await ensureContainer(this.client, this.guard, this.parent, signal);
          continue;
        }
        if (err instanceof SessionExpiredError) throw toSessionLost(err, this.parent, what);
        if (!isRetryable(err) || attempt >= MAX_ATTEMPTS) throw err;
        needLookup = true;
        await sleep(backoffMs(attempt), signal);
        await this.guard.waitConnected(this.parent, what, signal);
      }
    }
  }

  /** Our node among the parent's children, found by GUID; undefined if there is none. */
  find(signal?: AbortSignal): Promise<string | undefined> {
    return findProtectedChild(this.client, this.parent, this.prefix, signal);
  }

  /**
   * Deletes our node, wherever a create may have left it. Best effort: tolerates NONODE, retries
   * across connection losses while the session lives. The first attempt is awaited; if the
   * connection is down the rest continue in the background so that an abort is reported promptly.
   * After a LOST (a presumption, not a verdict) the background attempt waits to see whether the
   * client gets the SAME session back: then our node still exists and we delete it, so it cannot
   * block the queue as a zombie; after EXPIRED/CLOSED the server has deleted it for us.
   */
  async remove(): Promise<void> {
    const removeOnce = async () => {
      const target = this.path ?? (await this.find());
      if (target !== undefined) {
        try {
          await this.client.delete(target);
        } catch (err) {
          if (!(err instanceof NoNodeError)) throw err;
        }
      }
      this.path = undefined;
    };
    try {
      if (this.guard.lost && !this.guard.revived) throw new SessionLostError(this.parent, 'LOST', 'cleanup');
      await removeOnce();
      return;
    } catch (err) {
      if (!isRetryable(err) && !(err instanceof SessionLostError)) throw err;
    }
    this.guard.retain();
    void this.#removeInBackground(removeOnce).finally(() => this.guard.close());
  }

  async #removeInBackground(removeOnce: () => Promise<void>): Promise<void> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      try {
        if (this.guard.lost) {
          if (!(await this.guard.waitRevived())) return;
        } else {
          await this.guard.waitConnected(this.parent, 'cleaning up');
        }
        await removeOnce();
        return;
      } catch (err) {
        if (!isRetryable(err) && !(err instanceof SessionLostError)) return;
        await sleep(backoffMs(attempt));
      }
    }
  }
}
