import { isConclaveError, SessionExpiredError } from '@conclave/core';
import { filter, firstValueFrom } from 'rxjs';
import { SessionLostError } from '../errors.js';
import type { RecipeClient } from '../recipe-client.js';
import { raceAbort, sleep, throwIfAborted } from './abort.js';
import type { SessionGuard } from './session-guard.js';
import { isSessionEnded, isSessionGone } from './session-state.js';

/**
 * Retrying a step after a connection loss, in two flavours, because recipes depend on a session
 * in two ways:
 * - `retrying(client, op)`: the step does not depend on WHICH session runs it (reads, persistent
 *   nodes, a fixed-name ephemeral whose owner the caller checks). It waits until the client is
 *   connected again, under any session.
 * - `retryingInSession(guard, ...)`: the step belongs to a recipe that owns ephemeral queue nodes
 *   (locks, leases, an election): it only makes sense in the session that created them, so it
 *   waits for THAT session to be connected again and fails once it is gone.
 * Both are only for steps that are safe to repeat (reads, deletes that accept NONODE, creates that
 * find their own node); the caller decides that, these helpers only wait and count. Both turn a
 * SESSIONEXPIRED reply into SessionLostError.
 */

/**
 * The one retry policy of every recipe: at most MAX_ATTEMPTS attempts of one step, and before
 * attempt n+1 a pause of backoffMs(n) — exponential from 10 ms, capped at 1 s (≈ 24 s in all
 * before the last error goes to the caller). The pause matters even though every retry also
 * waits for the connection: right after a failure the client may still say CONNECTED, and without
 * it we would spin.
 */
export const MAX_ATTEMPTS = 30;

/** The pause after failed attempt `attempt` (1-based), in ms. */
export function backoffMs(attempt: number): number {
  return Math.min(10 * 2 ** Math.min(attempt - 1, 10), 1_000);
}

/** True for errors after which the request may or may not have been applied and a retry may help. */
export function isRetryable(err: unknown): boolean {
  return (
    isConclaveError(err, 'CONNECTIONLOSS') ||
    isConclaveError(err, 'OPERATIONTIMEOUT') ||
    isConclaveError(err, 'REQUESTTIMEOUT')
  );
}

/** A SESSIONEXPIRED reply as the recipes' SessionLostError (which still is a SessionExpiredError). */
export function toSessionLost(err: unknown, path: string | undefined, what: string): unknown {
  if (!(err instanceof SessionExpiredError) || err instanceof SessionLostError) return err;
  return new SessionLostError(path ?? err.path, 'EXPIRED', what, { cause: err });
}

/**
 * Resolves once the client is connected again; throws if the session is gone or the signal aborts.
 * `throughLost`: keep waiting after LOST (the client may still come back on the same session) and
 * give up only on EXPIRED/CLOSED — for what holds nothing, e.g. a cache or an observable.
 */
export async function whenConnected(
  client: RecipeClient,
  signal?: AbortSignal,
  opts: { throughLost?: boolean } = {},
): Promise<void> {
  const over = opts.throughLost === true ? isSessionEnded : isSessionGone;
  throwIfAborted(signal);
  if (client.state === 'CONNECTED' || client.state === 'RECONNECTED') return;
  if (over(client.state)) throw new SessionLostError(undefined, client.state, 'waiting to reconnect');
  const connected = firstValueFrom(
    client.state$.pipe(filter((s) => s === 'CONNECTED' || s === 'RECONNECTED' || over(s))),
  );
  const state = await raceAbort(connected, signal);
  if (over(state)) throw new SessionLostError(undefined, state, 'waiting to reconnect');
}

/** Runs `op`, retrying after a connection loss once the client has reconnected (any session). */
export async function retrying<T>(
  client: RecipeClient,
  op: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(signal);
    try {
      return await op();
    } catch (err) {
      if (!isRetryable(err) || attempt >= MAX_ATTEMPTS) throw toSessionLost(err, undefined, 'the operation');
      await sleep(backoffMs(attempt), signal);
      await whenConnected(client, signal);
    }
  }
}

/**
 * Runs `step` until it succeeds, retrying after a connection loss once the SAME session is
 * connected again; SessionLostError once that session is gone.
 */
export async function retryingInSession<T>(
  guard: SessionGuard,
  path: string,
  what: string,
  step: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(signal);
    guard.assertAlive(path, what);
    try {
      return await step();
    } catch (err) {
      if (err instanceof SessionExpiredError) throw toSessionLost(err, path, what);
      if (!isRetryable(err) || attempt >= MAX_ATTEMPTS) throw err;
      await sleep(backoffMs(attempt), signal);
      await guard.waitConnected(path, what, signal);
    }
  }
}
