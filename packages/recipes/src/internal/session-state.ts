import type { ConnectionState } from '../recipe-client.js';

/** What a connection state means to a recipe. */
export type SessionSignal = 'connected' | 'suspended' | 'lost';

/**
 * CONNECTED/RECONNECTED: requests flow. CONNECTING/SUSPENDED: the connection is down but the
 * session (and our ephemerals) may still live — a holder must assume it MAY have lost its hold.
 * LOST/EXPIRED/CLOSED: the session is gone — every ephemeral of it is deleted.
 */
export function classifyState(state: ConnectionState): SessionSignal {
  switch (state) {
    case 'CONNECTED':
    case 'RECONNECTED':
      return 'connected';
    case 'CONNECTING':
    case 'SUSPENDED':
      return 'suspended';
    default:
      return 'lost';
  }
}

/**
 * A session that is gone, or must be presumed gone (LOST): what a recipe holding an ephemeral has
 * to assume — its node may have been deleted and someone else may hold what it held.
 */
export function isSessionGone(state: ConnectionState): boolean {
  return classifyState(state) === 'lost';
}

/**
 * A session that is over for certain: the server said EXPIRED, or the client was CLOSED. Unlike
 * LOST — Curator's presumption after a whole session timeout without a connection, from which the
 * client may still come back RECONNECTED on the same session (sessions survive a server restart) —
 * nothing can follow these. Recipes that hold nothing (value$, members$, caches, waits) end only
 * here; recipes that hold an ephemeral must also treat LOST as gone (see isSessionGone).
 */
export function isSessionEnded(state: ConnectionState): boolean {
  return state === 'EXPIRED' || state === 'CLOSED';
}
