import { isConclaveError, SessionExpiredError } from '@conclave/core';
import { filter, firstValueFrom } from 'rxjs';
import { SessionLostError } from '../errors.js';
import type { RecipeClient } from '../recipe-client.js';
import { abortReason, sleep, throwIfAborted } from './abort.js';
import type { SessionGuard } from './session-guard.js';
import { isSessionGone } from './session-state.js';

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

/** Upper bound on `retrying` attempts of one operation: past it the last error goes to the caller. */
const MAX_ATTEMPTS = 30;

/** How many times `retryingInSession` (and ProtectedNode) retries one step before giving up. */
export const MAX_RETRIES = 64;

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

/** Resolves once the client is connected again; throws if the session is gone or the signal aborts. */
export async function whenConnected(client: RecipeClient, signal?: AbortSignal): Promise<void> {
  throwIfAborted(signal);
  if (client.state === 'CONNECTED' || client.state === 'RECONNECTED') return;
  if (isSessionGone(client.state))
    throw new SessionLostError(undefined, client.state, 'waiting to reconnect');
  const connected = firstValueFrom(
    client.state$.pipe(filter((s) => s === 'CONNECTED' || s === 'RECONNECTED' || isSessionGone(s))),
  );
  const aborted = new Promise<never>((_, reject) => {
    signal?.addEventListener('abort', () => reject(abortReason(signal)), { once: true });
  });
  const state = await Promise.race([connected, aborted]);
  if (isSessionGone(state)) throw new SessionLostError(undefined, state, 'waiting to reconnect');
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
      // The client may not have noticed the loss yet: back off a little so we do not spin.
      await new Promise((r) => setTimeout(r, Math.min(1000, 20 * attempt)));
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
  for (let attempt = 0; ; attempt++) {
    signal?.throwIfAborted();
    guard.assertAlive(path, what);
    try {
      return await step();
    } catch (err) {
      if (err instanceof SessionExpiredError) throw toSessionLost(err, path, what);
      if (!isRetryable(err) || attempt >= MAX_RETRIES) throw err;
      await guard.waitConnected(path, what, signal);
      // The state may not have caught up with the failure yet: back off a little so a client that
      // still says CONNECTED does not make us spin.
      await sleep(Math.min(5 * 2 ** attempt, 500), signal);
    }
  }
}
