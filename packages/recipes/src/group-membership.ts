/**
 * GroupMembership: who is in a group right now (Curator's GroupMember). Each member is an
 * ephemeral child named by its id and holding its payload; it vanishes when the member leaves or
 * its session ends (crash, SIGKILL, partition longer than the session timeout).
 *
 * ```ts
 * const group = new GroupMembership(client, '/cluster/workers', { id: 'worker-7', payload: '10.0.0.7' });
 * await group.join();
 * group.members$.subscribe((members) => rebalance(members.map((m) => m.id)));
 * // ... later
 * await group.leave();
 * ```
 *
 * Connection states (our own membership is reported by `status$`: held/suspended/lost/released):
 * SUSPENDED → we may or may not still be a member (the session may expire
 * before we reconnect); `members$` keeps its last list. RECONNECTED → still a member (the session
 * survived), `members$` re-reads. LOST → `status$` says 'lost' (presume our node gone);
 * `members$` keeps its list and keeps trying. A RECONNECTED on the same session after that means
 * the server kept the session and our node: `status$` is 'held' again. EXPIRED/CLOSED → our
 * membership is gone (the server deleted our node) and `members$` errors with SessionLostError: a
 * new client must `join()` again. A member
 * killed with SIGKILL disappears from everyone's `members$` once its session expires.
 *
 * Failure cases: `join()` retried after CONNECTIONLOSS finds its own node (same session owner); an
 * id held by another live session → NodeExistsError. `leave()` is idempotent.
 */
import { joinPath, validatePath } from '@conclave/core';
import { map, type Observable, shareReplay } from 'rxjs';
import { watchChildrenWithData } from './internal/children-data.js';
import type { RecipeClient } from './recipe-client.js';
import { utf8 } from './internal/codec.js';
import { createOwnEphemeral, validateId } from './internal/ephemeral.js';
import { type HoldState, HoldTracker } from './internal/hold.js';
import { deleteIfExists, ensurePath } from './internal/paths.js';

/** A member of the group as seen now. */
export interface Member {
  id: string;
  payload: Uint8Array;
  /** The member's session (its node's ephemeralOwner). */
  sessionId: bigint;
}

export class GroupMembership implements AsyncDisposable {
  private readonly id: string;
  private readonly payload: Uint8Array;
  private readonly ourPath: string;
  /** Every member, sorted by id: now, then after every join and leave. */
  readonly members$: Observable<Member[]>;
  private readonly hold: HoldTracker;

  constructor(
    private readonly client: RecipeClient,
    readonly path: string,
    opts: { id: string; payload?: string | Uint8Array },
  ) {
    validatePath(path);
    this.id = validateId(opts.id, 'GroupMembership');
    this.payload =
      typeof opts.payload === 'string' ? utf8(opts.payload) : (opts.payload ?? new Uint8Array(0));
    this.ourPath = joinPath(path, this.id);
    this.hold = new HoldTracker(client);
    this.members$ = watchChildrenWithData(client, path).pipe(
      map((entries) =>
        entries.map((e) => ({ id: e.name, payload: e.data, sessionId: e.stat.ephemeralOwner })),
      ),
      shareReplay({ bufferSize: 1, refCount: true }),
    );
  }

  /** Joins the group (creates our ephemeral node). */
  async join(opts: { signal?: AbortSignal } = {}): Promise<void> {
    await ensurePath(this.client, this.path, opts.signal);
    await createOwnEphemeral(this.client, this.ourPath, this.payload, 'GroupMembership', opts.signal);
    this.hold.held();
  }

  /**
   * Our own membership: 'held' while we are a member, 'suspended' while disconnected (we may be
   * dropped if the session expires first), 'lost' once the session is gone (we are no longer a
   * member; join again with a new client), 'released' before join() and after leave().
   */
  get status$(): Observable<HoldState> {
    return this.hold.status$;
  }

  /** Leaves the group (deletes our node; not a member is fine). */
  async leave(opts: { signal?: AbortSignal } = {}): Promise<void> {
    await deleteIfExists(this.client, this.ourPath, opts);
    this.hold.released();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.leave();
  }
}
