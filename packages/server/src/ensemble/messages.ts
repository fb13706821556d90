import type { TxnEntry } from '@conclave/core';
import type { ZabMessage } from '../zab/index.js';
import type { RoutedRequest } from './routing-preparer.js';

/**
 * A write a member hands to the leader for prep and ordering. The member holding the session
 * answers its client when it applies the resulting txn (matched by sessionId + cxid).
 */
export interface ForwardedWrite {
  sessionId: bigint;
  cxid: number;
  request: RoutedRequest;
}

/** Everything that travels between members on the quorum port. */
export type QuorumMessage =
  /** First frame on a connection: who dialed. */
  | { kind: 'hello'; from: number; to: number }
  | { kind: 'zab'; msg: ZabMessage<TxnEntry> }
  | { kind: 'forward'; write: ForwardedWrite }
  /** The leader could not take a forwarded write (it no longer leads): the origin drops its client. */
  | { kind: 'refused'; sessionId: bigint; cxid: number };
