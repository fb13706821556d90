import type { Subscription } from 'rxjs';
import { SessionLostError } from '../errors.js';
import type { ConnectionState, RecipeClient } from '../recipe-client.js';
import { classifyState, type SessionSignal } from './session-state.js';

/**
 * Follows one session of a client: the session that was current when the guard was made. Once
 * that session is lost (a LOST/EXPIRED/CLOSED state, or the client reconnecting under another
 * session id) the guard stays lost — a new session never inherits the old one's ephemerals.
 */
export class SessionGuard {
  readonly sessionId: bigint;
  #lostState: string | undefined;
  #listeners = new Set<(signal: SessionSignal, state: ConnectionState) => void>();
  #subscription: Subscription | undefined;
  #refs = 1;
  #reviveListeners = new Set<(state: ConnectionState) => void>();

  constructor(readonly client: RecipeClient) {
    this.sessionId = client.sessionId;
    this.#observe(client.state);
    // Subscribed last: a BehaviorSubject-like state$ replays the current state synchronously.
    this.#subscription = client.state$.subscribe((state) => this.#observe(state));
  }

  /** The state that lost the session, or undefined while it lives. */
  get lostState(): string | undefined {
    return this.#lostState;
  }

  get lost(): boolean {
    return this.#lostState !== undefined;
  }

  /** The current signal for this session. */
  get signal(): SessionSignal {
    if (this.lost) return 'lost';
    return classifyState(this.client.state);
  }

  /** Calls `fn` on every later state change; returns the unsubscribe function. */
  onChange(fn: (signal: SessionSignal, state: ConnectionState) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Throws SessionLostError when the session is gone. */
  assertAlive(path: string, what: string): void {
    if (this.#lostState !== undefined) throw new SessionLostError(path, this.#lostState, what);
  }

  /**
   * Resolves when requests can flow again on this session; rejects with SessionLostError when it
   * is lost, or with the signal's reason on abort.
   */
  waitConnected(path: string, what: string, signal?: AbortSignal): Promise<void> {
    this.assertAlive(path, what);
    signal?.throwIfAborted();
    if (this.signal === 'connected') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        off();
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        done();
        reject(signal?.reason);
      };
      const off = this.onChange((s) => {
        if (s === 'connected') {
          done();
          resolve();
        } else if (s === 'lost') {
          done();
          reject(new SessionLostError(path, this.#lostState ?? 'LOST', what));
        }
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** True when the client is connected under this guard's session (even after a LOST). */
  get revived(): boolean {
    return classifyState(this.client.state) === 'connected' && this.client.sessionId === this.sessionId;
  }

  /**
   * After a LOST (a presumption: the client keeps trying and the server may still hold the
   * session) resolves true if the client comes back under the SAME session — our ephemerals then
   * still exist and must be deleted by us — and false once that can no longer happen.
   */
  waitRevived(): Promise<boolean> {
    const revived = () => this.revived;
    if (revived()) return Promise.resolve(true);
    if (this.#lostState !== 'LOST' || this.#subscription === undefined) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const off = () => this.#reviveListeners.delete(check);
      const check = (state: ConnectionState) => {
        if (revived()) {
          off();
          resolve(true);
        } else if (state === 'EXPIRED' || state === 'CLOSED' || classifyState(state) === 'connected') {
          off();
          resolve(false);
        }
      };
      this.#reviveListeners.add(check);
    });
  }

  /** Keeps the guard following the client until a matching close() (for background cleanup). */
  retain(): void {
    if (this.#refs > 0) this.#refs++;
  }

  /** Stops following the client once every retain() has been matched by a close(). */
  close(): void {
    if (this.#refs === 0 || --this.#refs > 0) return;
    this.#subscription?.unsubscribe();
    this.#subscription = undefined;
    this.#listeners.clear();
    for (const fn of [...this.#reviveListeners]) fn('CLOSED');
  }

  #observe(state: ConnectionState): void {
    if (this.#lostState !== undefined) {
      for (const fn of [...this.#reviveListeners]) fn(state);
      return;
    }
    let signal = classifyState(state);
    if (signal === 'lost') {
      this.#lostState = state;
    } else if (signal === 'connected' && this.client.sessionId !== this.sessionId) {
      // The client came back under a new session: ours expired while we were away.
      this.#lostState = 'EXPIRED';
      signal = 'lost';
    }
    for (const fn of [...this.#listeners]) fn(signal, state);
  }
}
