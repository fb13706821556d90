import { ConclaveError, SessionExpiredError } from '@conclave/core';

/**
 * Errors the recipes raise on top of the client's. They extend ConclaveError (so `err.code` and
 * `err.errno` are ZooKeeper's) and their messages say what to do next.
 */

/** An acquire did not succeed within its `timeoutMs`; our queue node has been removed. */
export class LockTimeoutError extends ConclaveError {
  readonly timeoutMs: number;

  constructor(path: string, timeoutMs: number, what = 'lock') {
    super(
      'OPERATIONTIMEOUT',
      `could not acquire the ${what} within ${timeoutMs} ms; our queue node was removed, so retrying is safe`,
      path,
    );
    this.timeoutMs = timeoutMs;
  }
}

/** How each session-ending state came about, for the message. */
const HOW_LOST: Readonly<Record<string, string>> = {
  LOST: 'presumed gone: no server heard from us within the session timeout',
  EXPIRED: 'it expired',
  CLOSED: 'the client was closed',
};

/**
 * The one error every recipe raises when the session it depended on is gone: LOST, EXPIRED,
 * CLOSED, or the client came back under a different session id. Every ephemeral node of that
 * session is gone too: a lock, lease, leadership, membership or registration held through it is
 * no longer held, and a blocked call (acquire, wait, take, enter...) has stopped waiting.
 *
 * It extends core's SessionExpiredError, so `code` is 'SESSIONEXPIRED' and both
 * `instanceof SessionLostError` and `instanceof SessionExpiredError` hold; catching
 * SessionExpiredError also catches a raw SESSIONEXPIRED reply from a client call a recipe did not
 * retry. `state` says which state ended the session. Retry with a client that has a new session.
 */
export class SessionLostError extends SessionExpiredError {
  readonly state: string;

  constructor(
    path: string | undefined,
    state: string,
    what = 'the operation',
    options?: { cause?: unknown },
  ) {
    super(
      `${what}: the session was lost (${state}: ${HOW_LOST[state] ?? 'gone'}); its ephemeral nodes are gone — retry once the client has a new session`,
      path,
      options,
    );
    this.state = state;
  }
}

/** A recipe object was used after close(). Create a new one. */
export class RecipeClosedError extends ConclaveError {
  constructor(path: string, what: string) {
    super('APIERROR', `this ${what} was closed; create a new one to use it again`, path);
  }
}
