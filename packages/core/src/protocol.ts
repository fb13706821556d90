import type { EventType } from './events.js';
import type { Request } from './ops.js';
import type { Zxid } from './zxid.js';

/**
 * The client wire protocol: binary WebSocket messages, each one CBOR-encoded frame (codec.ts).
 *
 * 1. The client's first frame is a {@link ConnectRequest}; the server answers {@link ConnectResponse}
 *    (or closes with a reason when the session is unknown/expired or the request is malformed).
 * 2. Then requests `{ xid, ...Request }` and responses `{ xid, zxid, err, ...result }` flow, answered
 *    in request order per connection (FIFO, as ZooKeeper).
 * 3. Notifications arrive as `{ xid: -1, zxid, err: 0, event }` and are sent before the response
 *    that reveals the change they announce.
 */
export const PROTOCOL_VERSION = 1;

/** Special xids, ZooKeeper's numbers. */
export const Xid = {
  NOTIFICATION: -1,
  PING: -2,
  AUTH: -4,
  SET_WATCHES: -8,
} as const;

export interface ConnectRequest {
  protocolVersion: number;
  /** The highest zxid this client has seen; a server behind it refuses the connection. */
  lastZxidSeen: Zxid;
  timeoutMs: number;
  /** 0n to create a new session, else the session to resume. */
  sessionId: bigint;
  /** Empty for a new session. */
  password: Uint8Array;
  readOnly: boolean;
}

export interface ConnectResponse {
  protocolVersion: number;
  /** The negotiated timeout (clamped to the server's [min, max]). */
  timeoutMs: number;
  sessionId: bigint;
  password: Uint8Array;
  readOnly: boolean;
  /** Non-zero when the session could not be created or resumed (e.g. SESSIONEXPIRED). */
  err: number;
}

export type RequestFrame = { xid: number } & Request;

export interface ResponseHeader {
  xid: number;
  zxid: Zxid;
  /** 0, or a ZooKeeper error number. */
  err: number;
}

export interface NotificationFrame extends ResponseHeader {
  xid: -1;
  event: { type: EventType; path: string };
}

/** WebSocket close codes the server uses (4000-4999 is the application range). */
export const CloseCode = {
  /** Frame could not be decoded or failed the schema check. */
  MALFORMED_FRAME: 4000,
  /** Frame larger than maxFrameBytes. */
  FRAME_TOO_LARGE: 4001,
  /** The session is unknown or expired. */
  SESSION_EXPIRED: 4002,
  /** Too many connections from this client address. */
  TOO_MANY_CONNECTIONS: 4003,
  /** The client has seen a newer zxid than this server has. */
  SERVER_BEHIND: 4004,
  /** The session was closed by the client or moved to another connection. */
  SESSION_CLOSED: 4005,
  /** The server is not serving clients (no quorum, or shutting down). */
  NOT_SERVING: 4006,
  /** Unsupported protocol version. */
  PROTOCOL_VERSION: 4007,
  /** An auth request failed (bad scheme or credentials); as ZooKeeper, the connection is closed. */
  AUTH_FAILED: 4008,
  /**
   * The client did not read what the server sent it: the unsent output for this connection grew
   * past the server's hard cap (ZooKeeper closes such a slow consumer too). The client may
   * reconnect and resume its session; it must keep reading its socket.
   */
  SLOW_CONSUMER: 4009,
} as const;
