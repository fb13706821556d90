import { randomUUID } from 'node:crypto';
import { basename, joinPath, NoNodeError, SessionExpiredError } from '@conclave/core';
import { SessionLostError } from '../errors.js';
import type { RecipeClient } from '../recipe-client.js';
import { sleep } from './abort.js';
import { protectedPrefix } from './names.js';
import { ensureContainer } from './paths.js';
import { isRetryable, MAX_RETRIES, toSessionLost } from './retry.js';
import type { SessionGuard } from './session-guard.js';

/** Attempts at creating a node under a container that keeps vanishing (cleanup races). */
const MAX_PARENT_RETRIES = 16;

/**
 * A "protected" ephemeral-sequential node: `<parent>/_c_<guid>-<kind>-<seq>` (see names.ts).
 *
 * WHY the GUID: a create can succeed on the server while its reply is lost with the connection.
 * A blind retry would then leave a second node in the queue — an orphan that blocks everyone
 * behind it until our session ends. So after a connection loss we first list the parent and look
 * for a child carrying our GUID; only when there is none do we create again.
 */
export class ProtectedNode {
  readonly guid = randomUUID();
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
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
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
          // The parent container is missing or was just cleaned up: make it, back off a little
          // if this keeps happening (a cleaner's delete still in flight), and try again.
          await ensureContainer(this.client, this.guard, this.parent, signal);
          if (parentRetries > 1) await sleep(Math.min(2 ** parentRetries, 200), signal);
          continue;
        }
        if (err instanceof SessionExpiredError) throw toSessionLost(err, this.parent, what);
        if (!isRetryable(err) || attempt >= MAX_RETRIES) throw err;
        needLookup = true;
        await this.guard.waitConnected(this.parent, what, signal);
      }
    }
  }

  /** Our node among the parent's children, found by GUID; undefined if there is none. */
  async find(): Promise<string | undefined> {
    let children: string[];
    try {
      // A create whose reply was lost may still be in the server's pipeline; sync() is ordered
      // behind it, so the read that follows sees it (else we would queue a second node).
      await this.client.sync?.(this.parent);
      ({ children } = await this.client.getChildren(this.parent));
    } catch (err) {
      if (err instanceof NoNodeError) return undefined;
      throw err;
    }
    const name = children.find((c) => c.startsWith(this.prefix));
    return name === undefined ? undefined : joinPath(this.parent, name);
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
    const attempt = async () => {
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
      await attempt();
      return;
    } catch (err) {
      if (!isRetryable(err) && !(err instanceof SessionLostError)) throw err;
    }
    this.guard.retain();
    void this.#removeInBackground(attempt).finally(() => this.guard.close());
  }

  async #removeInBackground(attempt: () => Promise<void>): Promise<void> {
    for (let i = 0; i < MAX_RETRIES; i++) {
      try {
        if (this.guard.lost) {
          if (!(await this.guard.waitRevived())) return;
        } else {
          await this.guard.waitConnected(this.parent, 'cleaning up');
        }
        await attempt();
        return;
      } catch (err) {
        if (!isRetryable(err) && !(err instanceof SessionLostError)) return;
        await sleep(Math.min(10 * 2 ** i, 1_000));
      }
    }
  }
}
