/**
 * LeaderElection — one leader among many participants (ZooKeeper's election recipe; Curator's
 * LeaderLatch, with LeaderSelector's requeue on resign).
 *
 * ```ts
 * const election = new LeaderElection(client, '/election/scheduler', { id: 'node-a', payload: { url } });
 * election.isLeader$.subscribe((leading) => (leading ? startScheduling() : stopScheduling()));
 * await election.start();
 * // elsewhere, without joining:
 * LeaderElection.observe(client, '/election/scheduler').leader$.subscribe((l) => route(l?.payload));
 * ```
 *
 * Connection states — built so that at most one participant believes it leads, as far as
 * sessions allow:
 * - SUSPENDED: the leader may no longer lead (its session may expire while it cannot hear about
 *   it), so `isLeader$` goes false AT ONCE. Our node is kept.
 * - RECONNECTED (same session): we re-check our node; if it is still first we lead again. Unlike
 *   Curator's LeaderLatch we keep our node and so our place in the queue.
 * - LOST / EXPIRED / CLOSED: our node is gone with the session; `isLeader$` is false and the
 *   election stops (`state` 'lost'). It does not rejoin by itself: call `start()` again once the
 *   client has a new session, or make a new LeaderElection on a new client.
 *
 * `resign()` gives up: it deletes our node — waking the next participant, who leads — and joins
 * again at the back of the queue (like LeaderSelector with autoRequeue). `close()` leaves for good.
 *
 * Failure cases: a non-retryable error (e.g. NOAUTH on the election path) stops the election
 * with `state` 'failed' and `error` set; `awaitLeadership` rejects with it.
 *
 * The algorithm (one loop, `#run`): create `<path>/_c_<guid>-member-<seq>` (protected,
 * ephemeral-sequential, data = JSON {id, payload}); list and sort the children; if ours is first
 * we lead (and watch our own node, so a deletion by someone else is noticed); else watch only
 * our predecessor. Wake on that watch or a connection-state change, and go round again.
 */
import { BadArgumentsError, basename, joinPath, SessionExpiredError, validatePath } from '@conclave/core';
import { BehaviorSubject, distinctUntilChanged, type Observable } from 'rxjs';
import { sleep } from './internal/abort.js';
import type { RecipeClient } from './recipe-client.js';
import { SessionGuard } from './internal/session-guard.js';
import { ElectionObserver } from './election-observer.js';
import { RecipeClosedError, SessionLostError } from './errors.js';
import { encodeParticipant, type Participant } from './internal/participant.js';
import { ProtectedNode } from './internal/protected-node.js';
import { backoffMs, isRetryable } from './internal/retry.js';
import { sortQueue } from './internal/sequence.js';
import { Wakeup } from './internal/wakeup.js';

export interface LeaderElectionOptions {
  /** This participant's id, visible to everyone through leader$ / participants$. */
  id: string;
  /** Any JSON value to publish with the id (e.g. how to reach this participant). */
  payload?: unknown;
}

/** Where a participant is: not started, in the queue, leading, or done. */
export type ElectionState = 'idle' | 'waiting' | 'leader' | 'suspended' | 'lost' | 'failed' | 'closed';

export class LeaderElection {
  readonly path: string;
  readonly id: string;
  readonly payload: unknown;
  /** True while we lead (false while SUSPENDED). Emits on change, current value first. */
  readonly isLeader$: Observable<boolean>;
  /** Who leads now (any participant), or null. */
  readonly leader$: Observable<Participant | null>;
  /** Every participant, in queue order. */
  readonly participants$: Observable<readonly Participant[]>;
  /** The error that stopped the election ('failed'), if any. */
  error: unknown;

  readonly #isLeader = new BehaviorSubject<boolean>(false);
  readonly #state = new BehaviorSubject<ElectionState>('idle');
  readonly #observer: ElectionObserver;
  #guard: SessionGuard | undefined;
  #node: ProtectedNode | undefined;
  #generation = 0;
  #wakeup = new Wakeup();
  #loop: Promise<void> = Promise.resolve();
  #offState: (() => void) | undefined;
  #starting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  readonly #data: Uint8Array;

  constructor(
    readonly client: RecipeClient,
    path: string,
    opts: LeaderElectionOptions,
  ) {
    this.path = validatePath(path);
    if (typeof opts.id !== 'string' || opts.id.length === 0) {
      throw new BadArgumentsError('a LeaderElection needs a non-empty string id', path);
    }
    this.id = opts.id;
    this.payload = opts.payload ?? null;
    try {
      this.#data = encodeParticipant(this.id, this.payload);
    } catch (err) {
      throw new BadArgumentsError(`the payload must be JSON-serializable: ${String(err)}`, path, {
        cause: err,
      });
    }
    this.isLeader$ = this.#isLeader.pipe(distinctUntilChanged());
    this.#observer = new ElectionObserver(client, path);
    this.leader$ = this.#observer.leader$;
    this.participants$ = this.#observer.participants$;
  }

  /** Observe an election without joining it. Close the observer when done. */
  static observe(client: RecipeClient, path: string): ElectionObserver {
    return new ElectionObserver(client, validatePath(path));
  }

  get isLeader(): boolean {
    return this.#isLeader.value;
  }

  get state(): ElectionState {
    return this.#state.value;
  }

  /** 'idle' | 'waiting' | 'leader' | 'suspended' | 'lost' | 'failed' | 'closed'. */
  get state$(): Observable<ElectionState> {
    return this.#state.pipe(distinctUntilChanged());
  }

  /**
   * Joins the election. Resolves once our node is in the queue (leadership may follow at once or
   * later: watch isLeader$ or awaitLeadership()). A no-op while already running; after a LOST
   * session it joins again under the client's current session. `signal` aborts the join (e.g.
   * while waiting for a reconnect); nothing is left behind.
   */
  async start(opts: { signal?: AbortSignal } = {}): Promise<void> {
    // Concurrent start() calls share one join.
    this.#starting ??= this.#start(opts.signal).finally(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  async #start(signal?: AbortSignal): Promise<void> {
    if (this.#closing !== undefined) throw new RecipeClosedError(this.path, 'LeaderElection');
    if (this.#node !== undefined && this.#guard !== undefined && !this.#guard.lost) return;
    await this.#stopLoop();
    this.error = undefined;
    this.#offState?.();
    this.#guard?.close();
    this.#guard = new SessionGuard(this.client);
    this.#offState = this.#guard.onChange((s) => {
      if (s !== 'connected') this.#setLeader(false);
      if (s === 'suspended') this.#state.next('suspended');
      this.#wakeup.wake();
    });
    await this.#join(signal);
  }

  /**
   * Gives up leadership (if we lead) and joins again at the back: our node is deleted, which
   * wakes the next participant, who then leads. With no other participant we lead again.
   */
  async resign(): Promise<void> {
    if (this.#closing !== undefined) throw new RecipeClosedError(this.path, 'LeaderElection');
    await this.#starting;
    if (this.#node === undefined) return;
    await this.#stopLoop();
    this.#setLeader(false);
    await this.#node?.remove();
    this.#node = undefined;
    await this.#join();
  }

  /** Leaves the election for good: deletes our node, completes the streams. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await this.#starting?.catch(() => {});
    await this.#stopLoop();
    this.#setLeader(false);
    this.#state.next('closed');
    await this.#node?.remove().catch(() => {});
    this.#node = undefined;
    this.#offState?.();
    this.#guard?.close();
    await this.#observer.close();
    this.#isLeader.complete();
    this.#state.complete();
  }

  /**
   * Resolves when we lead. Rejects with the signal's reason on abort, RecipeClosedError after
   * close(), SessionLostError when the session is lost, or the error that stopped the election.
   */
  awaitLeadership(opts: { signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = opts;
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        sub.unsubscribe();
        reject(signal?.reason);
      };
      const sub = this.#state.subscribe((s) => {
        let outcome: { ok: true } | { ok: false; err: unknown } | undefined;
        if (s === 'leader') outcome = { ok: true };
        else if (s === 'closed')
          outcome = { ok: false, err: new RecipeClosedError(this.path, 'LeaderElection') };
        else if (s === 'lost')
          outcome = {
            ok: false,
            err: new SessionLostError(this.path, this.#guard?.lostState ?? 'LOST', 'the election'),
          };
        else if (s === 'failed') outcome = { ok: false, err: this.error };
        if (outcome === undefined) return;
        queueMicrotask(() => sub.unsubscribe());
        signal?.removeEventListener('abort', onAbort);
        if (outcome.ok) resolve();
        else reject(outcome.err);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Creates our node and starts the loop for it. */
  async #join(signal?: AbortSignal): Promise<void> {
    const guard = this.#guard!;
    const node = new ProtectedNode(this.client, guard, this.path, 'member');
    this.#node = node;
    this.#state.next('waiting');
    try {
      await node.create(this.#data, signal);
    } catch (err) {
      if (signal?.aborted) {
        // Aborted start(): leave no node behind and go back to idle.
        this.#node = undefined;
        await node.remove().catch(() => {});
        this.#state.next('idle');
      } else {
        this.#stopWith(err, guard);
      }
      throw err;
    }
    const generation = ++this.#generation;
    this.#loop = this.#run(generation, node, guard);
    this.#observer.refresh();
  }

  async #stopLoop(): Promise<void> {
    this.#generation++;
    this.#wakeup.wake();
    await this.#loop;
  }

  /** The recipe loop for one node; ends when the generation moves on or the session is lost. */
  async #run(generation: number, node: ProtectedNode, guard: SessionGuard): Promise<void> {
    const current = () => this.#generation === generation;
    let failures = 0;
    while (current()) {
      const wakeup = (this.#wakeup = new Wakeup());
      try {
        if (guard.lost) throw new SessionLostError(this.path, guard.lostState ?? 'LOST', 'the election');
        if (guard.signal !== 'connected') {
          // Also woken by resign()/close(), which must not wait for a reconnect.
          const connected = guard.waitConnected(this.path, 'the election');
          connected.catch(() => {});
          await Promise.race([connected, wakeup.promise]);
          continue;
        }
        if (node.path === undefined) await node.create(this.#data);
        const { children } = await this.client.getChildren(this.path);
        if (!current()) return;
        const queue = sortQueue(children);
        const index = queue.findIndex((n) => n.name === basename(node.path!));
        if (index < 0) {
          // Our node was deleted while the session lives (not by us): join again at the back.
          node.path = undefined;
          continue;
        }
        // Leading → watch our own node (a deletion by someone else ends our term); else the predecessor.
        const watched = joinPath(this.path, queue[index === 0 ? 0 : index - 1]!.name);
        const stat = await this.client.exists(watched, { watch: () => wakeup.wake() });
        if (!current()) return;
        if (stat === null) continue;
        const leading = index === 0 && guard.signal === 'connected';
        this.#setLeader(leading);
        this.#state.next(leading ? 'leader' : 'waiting');
        failures = 0;
        await wakeup.promise;
      } catch (err) {
        if (!current()) return;
        if (guard.lost || err instanceof SessionExpiredError) {
          this.#setLeader(false);
          this.#node = undefined;
          // If the client gets this very session back after a LOST, our node would lead as a
          // zombie; remove() watches for that and deletes it.
          void node.remove().catch(() => {});
          this.#state.next('lost');
          return;
        }
        if (!isRetryable(err)) {
          this.#stopWith(err, guard);
          return;
        }
        // Connection loss: the top of the loop waits for CONNECTED. The client may report the
        // failure before the state change, so pause as every retry does (resign/close still wake
        // us). No attempt limit: the election runs as long as its session lives.
        const pause = new AbortController();
        await Promise.race([wakeup.promise, sleep(backoffMs(++failures), pause.signal).catch(() => {})]);
        pause.abort(); // woken early: drop the timer rather than keep the process alive for it
      }
    }
  }

  #stopWith(err: unknown, guard: SessionGuard): void {
    this.#setLeader(false);
    this.error = err;
    this.#state.next(guard.lost ? 'lost' : 'failed');
  }

  #setLeader(leading: boolean): void {
    if (!this.#isLeader.closed && this.#isLeader.value !== leading) this.#isLeader.next(leading);
  }
}
