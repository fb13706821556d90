import { BadArgumentsError } from '@conclave/core';

/**
 * AbortSignal plumbing shared by every blocking recipe call: one signal that fires on the user's
 * abort (its reason) or on the timeout (a recipe-specific error), a race helper, an abortable
 * sleep, and the abort reason as an Error.
 */

/** A signal that aborts with the user's reason or, after `timeoutMs`, with `onTimeout()`. */
export function deadlineSignal(
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
  onTimeout: () => Error,
): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal?.reason);
  if (signal?.aborted) controller.abort(signal.reason);
  else signal?.addEventListener('abort', onAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (timeoutMs !== undefined && !controller.signal.aborted) {
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0)
      throw new BadArgumentsError(`timeoutMs must be a finite number ≥ 0, got ${timeoutMs}`);
    timer = setTimeout(() => controller.abort(onTimeout()), timeoutMs);
  }
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

/** The reason an aborted signal carries, as an Error (a non-Error reason becomes an AbortError). */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const err = new Error(reason === undefined ? 'the operation was aborted' : String(reason));
  err.name = 'AbortError';
  return err;
}

/** Throws the signal's reason (as an Error, see abortReason) once it has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}
