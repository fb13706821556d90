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

/** A session that is gone for good: ephemerals and watches are gone and the client must be replaced. */
export function isSessionGone(state: ConnectionState): boolean {
  return classifyState(state) === 'lost';
}
