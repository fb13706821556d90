import { OperationTimeoutError } from '@conclave/core';
import type { Subscription } from 'rxjs';
import { SessionLostError } from '../errors.js';
import type { RecipeClient } from '../recipe-client.js';
import { isSessionEnded, isSessionGone } from './session-state.js';

/**
 * The blocking half of every "check, else watch and wait" loop. Pass `waiter.wake` as the watch of
 * the read that checked the condition, then `await waiter.wait()`: it returns true once something
 * may have changed (the watch fired, or the connection came back, after which the loop must check
 * again because a watch may have been lost), false when the deadline passed, and throws when the
 * signal aborts or the session is over (SessionLostError). A wake that arrives before `wait()` is not lost.
 *
 * "Over" means EXPIRED or CLOSED: a wait that holds nothing keeps waiting through a LOST (only a
 * presumption; the client may come back on the same session, and then RECONNECTED wakes the loop).
 * A wait whose caller owns an ephemeral that must still exist (a double-barrier entry) passes
 * `endOnLost`, as it must assume that node gone.
 */
export class Waiter {
  private woken = false;
  private resolveWait: ((woken: boolean) => void) | undefined;
  private rejectWait: ((err: unknown) => void) | undefined;
  /** Why waiting is over for good (the signal's reason, SessionLostError); undefined = not over. */
  private failure: { reason: unknown } | undefined;
  private readonly deadline: number | undefined;
  private readonly sub: Subscription;
  private readonly onAbort: () => void;

  constructor(
    client: RecipeClient,
    private readonly opts: {
      signal?: AbortSignal | undefined;
      timeoutMs?: number | undefined;
      what: string;
      endOnLost?: boolean;
    },
  ) {
    this.deadline = opts.timeoutMs === undefined ? undefined : performance.now() + opts.timeoutMs;
    this.onAbort = () => this.fail(opts.signal?.reason);
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
    if (opts.signal?.aborted) this.failure = { reason: opts.signal.reason };
    this.sub = client.state$.subscribe((state) => {
      const over = opts.endOnLost === true ? isSessionGone(state) : isSessionEnded(state);
      if (over) this.fail(new SessionLostError(undefined, state, opts.what));
      else if (state === 'RECONNECTED') this.wake();
    });
  }

  /** A watch listener: wakes the waiting loop. */
  readonly wake = (): void => {
    this.woken = true;
    const resolve = this.resolveWait;
    this.resolveWait = undefined;
    this.rejectWait = undefined;
    resolve?.(true);
  };

  /** Milliseconds left before the deadline (Infinity without one). */
  remainingMs(): number {
    return this.deadline === undefined
      ? Number.POSITIVE_INFINITY
      : Math.max(0, this.deadline - performance.now());
  }

  /** Throws if aborted or the session is gone; call it before side effects in a loop. */
  check(): void {
    if (this.failure !== undefined) throw this.failure.reason;
  }

  /**
   * Waits for a wake. `maxMs` caps this one wait (e.g. a delay-queue head that becomes due);
   * reaching it returns true as if woken, reaching the overall deadline returns false.
   */
  wait(maxMs?: number): Promise<boolean> {
    if (this.failure !== undefined) return Promise.reject(this.failure.reason);
    if (this.woken) {
      this.woken = false;
      return Promise.resolve(true);
    }
    const remaining = this.remainingMs();
    if (remaining <= 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve, reject) => {
      const capped = maxMs !== undefined && maxMs < remaining;
      const timer =
        Number.isFinite(remaining) || capped
          ? setTimeout(() => finish(capped), capped ? maxMs : remaining)
          : undefined;
      const finish = (result: boolean) => {
        if (timer !== undefined) clearTimeout(timer);
        this.woken = false;
        this.resolveWait = undefined;
        this.rejectWait = undefined;
        resolve(result);
      };
      this.resolveWait = finish;
      this.rejectWait = (err) => {
        if (timer !== undefined) clearTimeout(timer);
        reject(err);
      };
    });
  }

  /** Like wait(), but a passed deadline throws OperationTimeoutError. */
  async waitOrTimeout(maxMs?: number): Promise<void> {
    if (!(await this.wait(maxMs))) {
      throw new OperationTimeoutError(`timed out after ${this.opts.timeoutMs} ms while ${this.opts.what}`);
    }
  }

  dispose(): void {
    this.sub.unsubscribe();
    this.opts.signal?.removeEventListener('abort', this.onAbort);
  }

  private fail(reason: unknown): void {
    this.failure ??= { reason };
    const reject = this.rejectWait;
    this.resolveWait = undefined;
    this.rejectWait = undefined;
    reject?.(this.failure.reason);
  }
}
