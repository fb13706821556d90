import { SessionLostError } from '../errors.js';
import type { SessionGuard } from './session-guard.js';

/**
 * A one-shot wake-up for a recipe loop: anything (a watch, a state change, a resign) may call
 * `wake()`; the loop awaits `promise`. Make it BEFORE issuing the reads whose watches call it, so
 * an event that arrives before the loop starts waiting is not lost.
 */
export class Wakeup {
  readonly promise: Promise<void>;
  wake!: () => void;

  constructor() {
    this.promise = new Promise<void>((resolve) => {
      this.wake = resolve;
    });
  }
}

/** A Wakeup bound to one session; see sessionWakeup. */
export interface SessionWakeup {
  readonly promise: Promise<void>;
  /** Resolves `promise`: pass it as the watch of the read that checked the condition. */
  readonly wake: () => void;
  /** Stops following the session and the signal (also done once `promise` settles). */
  readonly cancel: () => void;
}

/**
 * A one-shot wake-up for a loop that waits in one session (a lock queue, a semaphore): `promise`
 * resolves on `wake()` or when the session is connected again (a watch may have been lost with the
 * connection: check again), and rejects with SessionLostError once the session is lost, or with the
 * signal's reason on abort. Make it BEFORE the read whose watch calls `wake`, so an event that fires
 * before the loop starts waiting is not missed.
 */
export function sessionWakeup(
  guard: SessionGuard,
  path: string,
  what: string,
  signal?: AbortSignal,
): SessionWakeup {
  let wake!: () => void;
  let fail!: (err: unknown) => void;
  const promise = new Promise<void>((resolve, reject) => {
    wake = resolve;
    fail = reject;
  });
  promise.catch(() => {}); // a rejection while the caller is still reading is handled when it awaits
  const off = guard.onChange((s) => {
    if (s === 'connected') wake();
    else if (s === 'lost') fail(new SessionLostError(path, guard.lostState ?? 'LOST', what));
  });
  const onAbort = () => fail(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const cancel = () => {
    off();
    signal?.removeEventListener('abort', onAbort);
  };
  void promise.then(cancel, cancel);
  return { promise, wake: () => wake(), cancel };
}
