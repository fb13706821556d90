/**
 * DoubleBarrier: `count` participants enter together and leave together (ZooKeeper's double
 * barrier recipe, Curator's DistributedDoubleBarrier). Each participant is an ephemeral child named
 * by its id; the last to arrive creates the `ready` node that releases everyone.
 *
 * ```ts
 * const barrier = new DoubleBarrier(client, '/jobs/42/barrier', { count: 8, id: workerId });
 * await barrier.enter();   // blocks until 8 have entered
 * await doTheWork();
 * await barrier.leave();   // blocks until all 8 have left
 * ```
 *
 * Connection states: SUSPENDED → keeps waiting; the client re-registers the watch, and on
 * RECONNECTED the loop checks again. LOST/EXPIRED/CLOSED → `enter()`/`leave()` reject with
 * SessionLostError: our ephemeral node is gone, so we no longer count as entered. A participant
 * whose session dies while waiting in `enter()` is not counted; the others keep waiting for `count`
 * live participants. In `leave()` a dead participant counts as having left.
 *
 * Failure cases: `enter()` with `timeoutMs` that passes removes our node and returns false
 * (likewise on abort, which rejects). An id already held by another live session → NodeExistsError.
 * The barrier path can be reused for a new round once every participant of the last one has left.
 *
 * Reuse: `ready` must be gone before the next round starts entering (a stale one would let it
 * through at once), and must never be deleted by a slow leaver of the last round once the next
 * round has made its own (its waiters would then count again, and one that already left would
 * leave the rest waiting forever). So the LAST participant out deletes its node and `ready` in one
 * multi; the others delete `ready` only if it is still the one they entered with (same czxid) —
 * needed when the last participant died instead of leaving.
 */
import {
  BadArgumentsError,
  ConclaveError,
  ErrorCode,
  isConclaveError,
  joinPath,
  validatePath,
} from '@conclave/core';
import type { RecipeClient } from './recipe-client.js';
import { createOwnEphemeral, validateId } from './internal/ephemeral.js';
import { multiOutcome } from './internal/multi.js';
import { createIfAbsent, deleteIfExists, ensurePath } from './internal/paths.js';
import { retrying } from './internal/retry.js';
import { Waiter } from './internal/waiter.js';

const READY = 'ready';

export interface DoubleBarrierOptions {
  /** Number of participants that must enter before anyone proceeds. */
  count: number;
  /** This participant's id, unique among the participants (the name of its node). */
  id: string;
}

export class DoubleBarrier {
  private readonly count: number;
  private readonly id: string;
  private readonly ourPath: string;
  private readonly readyPath: string;
  /** The czxid of the `ready` node of the round we entered: the only `ready` we may delete. */
  private roundReady: bigint | undefined;

  constructor(
    private readonly client: RecipeClient,
    readonly path: string,
    opts: DoubleBarrierOptions,
  ) {
    validatePath(path);
    if (!Number.isInteger(opts.count) || opts.count < 1) {
      throw new BadArgumentsError(
        `DoubleBarrier: count must be an integer ≥ 1 (how many participants to wait for), got ${opts.count}`,
        path,
      );
    }
    this.count = opts.count;
    this.id = validateId(opts.id, 'DoubleBarrier');
    if (this.id === READY) {
      throw new BadArgumentsError(`DoubleBarrier: the id '${READY}' is reserved; choose another id`, path);
    }
    this.ourPath = joinPath(path, this.id);
    this.readyPath = joinPath(path, READY);
  }

  /**
   * Enters and blocks until `count` participants have entered. Resolves true then, or false when
   * `timeoutMs` passes first (our node is removed again).
   */
  async enter(opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<boolean> {
    const { signal } = opts;
    await ensurePath(this.client, this.path, signal);
    const waiter = new Waiter(this.client, {
      ...opts,
      what: `entering the double barrier ${this.path}`,
      endOnLost: true,
    });
    let done = false;
    try {
      await createOwnEphemeral(this.client, this.ourPath, new Uint8Array(0), 'DoubleBarrier', signal);
      for (;;) {
        waiter.check();
        // Watch `ready` before counting, so a creation between the two reads still wakes us.
        const ready = await retrying(
          this.client,
          () => this.client.exists(this.readyPath, { watch: waiter.wake, signal }),
          signal,
        );
        if (ready !== null) {
          this.roundReady = ready.czxid;
          return (done = true);
        }
        const { children } = await retrying(
          this.client,
          () => this.client.getChildren(this.path, { signal }),
          signal,
        );
        const entered = children.filter((c) => c !== READY).length;
        if (entered >= this.count) {
          await createIfAbsent(this.client, this.readyPath, new Uint8Array(0), signal);
          const made = await retrying(
            this.client,
            () => this.client.exists(this.readyPath, { signal }),
            signal,
          );
          this.roundReady = made?.czxid;
          return (done = true);
        }
        if (!(await waiter.wait())) return false;
      }
    } finally {
      waiter.dispose();
      if (!done) await this.bestEffortRemoveOurs();
    }
  }

  /** Leaves and blocks until every participant has left. False if `timeoutMs` passes first. */
  async leave(opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<boolean> {
    const { signal } = opts;
    const waiter = new Waiter(this.client, {
      ...opts,
      what: `leaving the double barrier ${this.path}`,
      endOnLost: true,
    });
    try {
      for (;;) {
        waiter.check();
        const { children } = await retrying(
          this.client,
          () => this.client.getChildren(this.path, { signal }),
          signal,
        );
        const present = children.filter((c) => c !== READY).sort();
        if (present.length === 0) break;
        const ours = present.indexOf(this.id);
        if (present.length === 1 && ours === 0) {
          if (await this.leaveLast(signal)) return true;
          break;
        }
        // ZooKeeper's recipe: the lowest waits for the highest to go, everyone else removes itself
        // and waits for the lowest. Each waits on one node, so no herd wakes on every departure.
        let watched: string;
        if (ours === 0) {
          watched = present[present.length - 1] as string;
        } else {
          if (ours > 0) await deleteIfExists(this.client, this.ourPath, { signal });
          watched = present[0] as string;
        }
        const stat = await retrying(
          this.client,
          () => this.client.exists(joinPath(this.path, watched), { watch: waiter.wake, signal }),
          signal,
        );
        if (stat !== null && !(await waiter.wait())) return false;
      }
      // Everyone is out. Normally the last one took `ready` down with its own node; if it died
      // instead, ours is still there and must go so the path can host the next round.
      await this.removeOurReady(signal);
      return true;
    } finally {
      waiter.dispose();
    }
  }

  /**
   * The last one out: deletes our node and `ready` atomically. False when that could not be done
   * as one step (`ready` or our node already gone); our node is then deleted on its own.
   */
  private async leaveLast(signal?: AbortSignal): Promise<boolean> {
    const { errno } = await retrying(
      this.client,
      () =>
        multiOutcome(
          this.client,
          [
            { op: 'delete', path: this.ourPath, version: -1 },
            { op: 'delete', path: this.readyPath, version: -1 },
          ],
          signal,
        ),
      signal,
    );
    if (errno === 0) return true;
    // NONODE: `ready` was deleted by the fallback below, or a retried multi of ours was applied.
    if (errno !== ErrorCode.NONODE)
      throw ConclaveError.from(errno, this.readyPath, 'leaving the double barrier');
    await deleteIfExists(this.client, this.ourPath, { signal });
    return false;
  }

  /** Deletes `ready` if it is still the one of the round we entered (never a later round's). */
  private async removeOurReady(signal?: AbortSignal): Promise<void> {
    const ours = this.roundReady;
    if (ours === undefined) return;
    const stat = await retrying(this.client, () => this.client.exists(this.readyPath, { signal }), signal);
    if (stat === null || stat.czxid !== ours) return;
    try {
      await deleteIfExists(this.client, this.readyPath, { version: stat.version, signal });
    } catch (err) {
      if (!isConclaveError(err, 'BADVERSION') && !isConclaveError(err, 'NOTEMPTY')) throw err;
    }
  }

  private async bestEffortRemoveOurs(): Promise<void> {
    try {
      await this.client.delete(this.ourPath);
    } catch {
      // Best effort: if the session is gone the node is gone with it.
    }
  }
}
