/**
 * Connection states, as Apache Curator names them (ConnectionState.java), plus the two ends of a
 * client's life:
 *
 * | state        | meaning                                                                  |
 * |--------------|--------------------------------------------------------------------------|
 * | CONNECTING   | `connect()` has not resolved yet                                         |
 * | CONNECTED    | first connection, new session                                            |
 * | SUSPENDED    | connection lost; the session may still live; calls fail with CONNECTIONLOSS |
 * | RECONNECTED  | connection back, same session: ephemerals and watches are intact          |
 * | LOST         | disconnected for a whole session timeout: presume the session gone        |
 * | EXPIRED      | the server confirmed the session is gone (terminal)                       |
 * | CLOSED       | `close()` was called (terminal)                                           |
 */
export type ConnectionState =
  | 'CONNECTING'
  | 'CONNECTED'
  | 'SUSPENDED'
  | 'RECONNECTED'
  | 'LOST'
  | 'EXPIRED'
  | 'CLOSED';

/** Every legal transition; anything else is a bug in the session state machine. */
const transitions: Record<ConnectionState, readonly ConnectionState[]> = {
  CONNECTING: ['CONNECTED', 'CLOSED'],
  CONNECTED: ['SUSPENDED', 'EXPIRED', 'CLOSED'],
  SUSPENDED: ['RECONNECTED', 'LOST', 'EXPIRED', 'CLOSED'],
  RECONNECTED: ['SUSPENDED', 'EXPIRED', 'CLOSED'],
  // Curator: LOST is a presumption; the server may still hold the session (it was down too, and
  // sessions survive a restart), so a reconnect can still succeed.
  LOST: ['RECONNECTED', 'EXPIRED', 'CLOSED'],
  EXPIRED: ['CLOSED'],
  CLOSED: [],
};

export function canTransition(from: ConnectionState, to: ConnectionState): boolean {
  return transitions[from].includes(to);
}

/** True in the states where requests can be sent (a live connection, same session). */
export function isConnectedState(state: ConnectionState): boolean {
  return state === 'CONNECTED' || state === 'RECONNECTED';
}

/** True once the client can never serve a request again. */
export function isTerminalState(state: ConnectionState): boolean {
  return state === 'EXPIRED' || state === 'CLOSED';
}
