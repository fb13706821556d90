/**
 * ElectionObserver — who leads an election, and who takes part, without taking part.
 *
 * ```ts
 * const obs = LeaderElection.observe(client, '/election/scheduler');
 * obs.leader$.subscribe((l) => console.log('leader is', l?.id ?? 'nobody'));
 * // ... obs.close();
 * ```
 *
 * It watches the election node's children (one child watch, re-armed on every change) and reads
 * each new participant's data once. Connection states: while SUSPENDED the last known values
 * stay (they may be stale); on RECONNECTED (also after a LOST) it re-reads; on EXPIRED or CLOSED
 * — after which the client never serves again — the streams complete.
 */
import { NoNodeError, joinPath } from '@conclave/core';
import { BehaviorSubject, distinctUntilChanged, map, type Observable, type Subscription } from 'rxjs';
import { sleep } from './internal/abort.js';
import type { RecipeClient } from './recipe-client.js';
import { classifyState } from './internal/session-state.js';
import { decodeParticipant, type Participant } from './internal/participant.js';
import { backoffMs, isRetryable } from './internal/retry.js';
import { sortQueue } from './internal/sequence.js';
import { Wakeup } from './internal/wakeup.js';

export class ElectionObserver {
  /** Every participant, in queue order (the first one leads). */
  readonly participants$: Observable<readonly Participant[]>;
  /** The leader, or null when there is no participant. Emits on change only. */
  readonly leader$: Observable<Participant | null>;
  readonly #participants = new BehaviorSubject<readonly Participant[]>([]);
  readonly #cache = new Map<string, Participant>();
  readonly #stop = new AbortController();
  #wakeup = new Wakeup();
  #subscription: Subscription;
  readonly done: Promise<void>;

  constructor(
    readonly client: RecipeClient,
    readonly path: string,
  ) {
    this.participants$ = this.#participants.asObservable();
    this.leader$ = this.#participants.pipe(
      map((p) => p[0] ?? null),
      distinctUntilChanged((a, b) => a?.node === b?.node),
    );
    this.#subscription = client.state$.subscribe((s) => {
      // The client never serves again after EXPIRED or CLOSED: finish rather than spin.
      if (s === 'CLOSED' || s === 'EXPIRED') void this.close();
      else if (classifyState(s) !== 'suspended') this.#wakeup.wake();
    });
    this.done = this.#run();
  }

  /** The current participants (queue order). */
  get participants(): readonly Participant[] {
    return this.#participants.value;
  }

  /** The current leader, or null. */
  get leader(): Participant | null {
    return this.#participants.value[0] ?? null;
  }

  /** Stops watching and completes the streams. Idempotent. */
  async close(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    this.#subscription.unsubscribe();
    this.#wakeup.wake();
    await this.done;
    this.#participants.complete();
  }

  /** Nudges the loop to re-read now (used by LeaderElection after its own changes). */
  refresh(): void {
    this.#wakeup.wake();
  }

  async #run(): Promise<void> {
    const stop = this.#stop.signal;
    for (let failures = 0; !stop.aborted; ) {
      const wakeup = (this.#wakeup = new Wakeup());
      try {
        const found = await this.#read(wakeup);
        if (stop.aborted) return;
        this.#publish(found);
        failures = 0;
        await wakeup.promise;
      } catch (err) {
        if (stop.aborted) return;
        // Connection trouble: the state subscription wakes us on reconnect; otherwise back off.
        failures++;
        if (!isRetryable(err) && failures > 8) await sleep(1_000, stop).catch(() => {});
        await Promise.race([wakeup.promise, sleep(backoffMs(failures), stop).catch(() => {})]);
      }
    }
  }

  async #read(wakeup: Wakeup): Promise<Participant[]> {
    let children: string[];
    try {
      ({ children } = await this.client.getChildren(this.path, { watch: () => wakeup.wake() }));
    } catch (err) {
      if (!(err instanceof NoNodeError)) throw err;
      // No election node yet: wait for it to appear.
      const stat = await this.client.exists(this.path, { watch: () => wakeup.wake() });
      if (stat !== null) wakeup.wake();
      return [];
    }
    const queue = sortQueue(children);
    const out: Participant[] = [];
    for (const { name } of queue) {
      let p = this.#cache.get(name);
      if (p === undefined) {
        try {
          const { data } = await this.client.getData(joinPath(this.path, name));
          p = decodeParticipant(name, data);
          this.#cache.set(name, p);
        } catch (err) {
          if (err instanceof NoNodeError) continue; // it left meanwhile; the child watch fires again
          throw err;
        }
      }
      out.push(p);
    }
    const live = new Set(queue.map((n) => n.name));
    for (const name of this.#cache.keys()) if (!live.has(name)) this.#cache.delete(name);
    return out;
  }

  #publish(next: Participant[]): void {
    const prev = this.#participants.value;
    if (prev.length === next.length && prev.every((p, i) => p.node === next[i]?.node)) return;
    this.#participants.next(next);
  }
}
