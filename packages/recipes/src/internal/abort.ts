import { BadArgumentsError } from '@conclave/core';

/**
 * AbortSignal plumbing shared by every blocking recipe call: one signal that fires on the user's
 * abort (its reason) or on the timeout (a recipe-specific error), a race helper, an abortable
 * sleep. Every blocking call rejects with `signal.reason` itself, never a wrapper.
 */

/**
 * A signal that aborts with the user's reason or, after `timeoutMs`, with `onTimeout()`. Without
 * a `timeoutMs` it is the user's signal itself (undefined without one either): no controller and
 * no listener per call, as an uncontended lock acquire is only a few round trips.
 */
export function deadlineSignal(
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
  onTimeout: () => Error,
): { signal: AbortSignal | undefined; dispose(): void } {
  if (timeoutMs === undefined) return { signal, dispose() {} };
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new BadArgumentsError(
      `timeoutMs must be a finite number of milliseconds ≥ 0 (or omitted to wait forever), got ${timeoutMs}`,
    );
  }
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal?.reason);
  if (signal?.aborted) controller.abort(signal.reason);
  else signal?.addEventListener('abort', onAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (!controller.signal.aborted) timer = setTimeout(() => controller.abort(onTimeout()), timeoutMs);
  return {
    signal: controller.signal,
    dispose() {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    },
  };
}

/** Resolves/rejects as `promise`, or rejects with the signal's reason once it aborts. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Sleeps `ms`, or rejects with the signal's reason. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return raceAbort(
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      signal?.addEventListener('abort', () => clearTimeout(t), { once: true });
    }),
    signal,
  );
}

/**
 * Throws the signal's own reason once it has aborted — as-is, never wrapped, so a caller can
 * recognise the error it aborted with (`controller.abort(myError)`; a bare `abort()` gives the
 * platform's DOMException AbortError).
 */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  signal?.throwIfAborted();
}
