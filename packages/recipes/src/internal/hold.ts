import { BehaviorSubject, filter, map, type Observable, type Subscription, take } from 'rxjs';
import type { ConnectionState, RecipeClient } from '../recipe-client.js';
import type { ProtectedNode } from './protected-node.js';
import type { SessionGuard } from './session-guard.js';
import { classifyState, type SessionSignal } from './session-state.js';

/**
 * What a holder knows about its hold — of a lock, lease, membership or registration: 'held';
 * 'suspended' (connection down, the session may live — the hold MAY be gone, stop mutating shared
 * state until it is 'held' again); 'lost' (session gone: the node is deleted and someone else may
 * hold it now); 'released' (we gave it up ourselves, or never held it).
 */
export type HoldState = 'held' | 'suspended' | 'lost' | 'released';

/** The hold state a session signal implies. */
function holdStateOf(signal: SessionSignal): HoldState {
  return signal === 'connected' ? 'held' : signal === 'suspended' ? 'suspended' : 'lost';
}

/**
 * One acquired queue node, shared by the reentrant handles of one Mutex (or the leases of one
 * Semaphore acquire). Follows the session that created the node(s) (a SessionGuard: a new session
 * means 'lost') and turns its signals into a HoldState.
 */
export class Hold {
  count = 1;
  readonly state$: BehaviorSubject<HoldState>;
  /** Emits the state that lost the session (LOST/EXPIRED/CLOSED), once, then completes. */
  readonly lost$: Observable<string>;
  #off: () => void;

  constructor(
    readonly nodes: readonly ProtectedNode[],
    readonly guard: SessionGuard,
    private readonly onGone: () => void,
  ) {
    this.state$ = new BehaviorSubject<HoldState>(guard.signal === 'suspended' ? 'suspended' : 'held');
    this.lost$ = this.state$.pipe(
      filter((s) => s === 'lost'),
      take(1),
      map(() => guard.lostState ?? 'LOST'),
    );
    this.#off = guard.onChange((s) => {
      if (this.state$.value === 'released' || this.state$.value === 'lost') return;
      if (s === 'lost') this.#lose();
      else this.state$.next(holdStateOf(s));
    });
    if (guard.lost) this.#lose();
  }

  get isHeld(): boolean {
    return this.state$.value === 'held' || this.state$.value === 'suspended';
  }

  /** Deletes the node(s) and ends the hold. After a lost session there is nothing to delete. */
  async release(): Promise<void> {
    if (this.state$.value === 'released') return;
    const wasLost = this.state$.value === 'lost';
    this.#end('released');
    if (wasLost) return;
    try {
      await Promise.all(this.nodes.map((n) => n.remove()));
    } finally {
      this.guard.close();
    }
  }

  /**
   * The session is gone (or presumed gone: LOST). Someone else may hold the lock now. If the
   * client later gets this very session back, our nodes would still be in the queue as zombies,
   * so remove() stays on watch for that and deletes them.
   */
  #lose(): void {
    this.#end('lost');
    void Promise.all(this.nodes.map((n) => n.remove().catch(() => {}))).finally(() => this.guard.close());
  }

  #end(state: 'lost' | 'released'): void {
    this.#off();
    this.onGone();
    this.state$.next(state);
    if (state === 'released') this.state$.complete();
  }
}

/**
 * The hold of an ephemeral node with a fixed name (a membership, a registration): follows the
 * client's connection state from `held()` until `released()`. Unlike Hold it deletes nothing
 * itself: once the session is gone, the server has deleted the node. A LOST is a presumption:
 * when the client then comes back RECONNECTED on the SAME session, the server kept the session
 * and so our node, and the hold is 'held' again; after EXPIRED/CLOSED (or another session) it
 * stays 'lost'.
 */
export class HoldTracker {
  private readonly subject = new BehaviorSubject<HoldState>('released');
  private sub: Subscription | undefined;
  /** The session that created the node. */
  private sessionId = 0n;

  constructor(private readonly client: RecipeClient) {}

  get status$(): Observable<HoldState> {
    return this.subject.asObservable();
  }

  get status(): HoldState {
    return this.subject.value;
  }

  held(): void {
    this.sessionId = this.client.sessionId;
    this.set('held');
    this.sub ??= this.client.state$.subscribe((state) => this.follow(state));
  }

  released(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
    if (this.subject.value !== 'lost') this.set('released');
  }

  private follow(state: ConnectionState): void {
    const now = this.subject.value;
    if (now === 'released') return;
    const signal = classifyState(state);
    const sameSession = this.client.sessionId === this.sessionId;
    if (now === 'lost') {
      // Back from a LOST on the very session that owns the node: it was never deleted.
      if (signal === 'connected' && sameSession) this.set('held');
      return;
    }
    this.set(signal === 'connected' && !sameSession ? 'lost' : holdStateOf(signal));
  }

  private set(status: HoldState): void {
    if (this.subject.value !== status) this.subject.next(status);
  }
}
