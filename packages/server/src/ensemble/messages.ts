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

/**
 * One piece of a snapshot in a SNAP stream (leader → learner). A snapshot travels as bounded
 * frames that the sender paces by the socket's drain, followed by the ZAB `snap` message whose
 * `snapshot` is a {@link SnapTrailer}; see snapshot-stream.ts.
 */
export interface SnapChunk {
  kind: 'snap-chunk';
  /** Names the stream (frames of an abandoned stream are never mixed into the next). */
  stream: number;
  /** 0, 1, 2, … within the stream. */
  index: number;
  data: Uint8Array;
  /** This frame ends one of the snapshot's chunks (Database.serialize() chunks). */
  last: boolean;
}

/** What a streamed SNAP's `snapshot` field carries: how to verify the frames before it. */
export interface SnapTrailer {
  stream: number;
  frames: number;
  bytes: number;
  /** CRC-32C of every data byte of the stream, in order. */
  crc32c: number;
}

/** Everything that travels between members on the quorum port. */
export type QuorumMessage =
  /** First frame on a connection: who dialed. */
  | { kind: 'hello'; from: number; to: number }
  | { kind: 'zab'; msg: ZabMessage<TxnEntry> }
  | SnapChunk
  | { kind: 'forward'; write: ForwardedWrite }
  /**
   * The leader could not take a forwarded write; `err` is its answer. THROTTLEDOP (too many
   * proposals in flight): just that write fails. Anything else (the leader no longer leads): the
   * write fails and the origin drops that session's connection, so its client reconnects.
   */
  | { kind: 'refused'; sessionId: bigint; cxid: number; err: number }
  /**
   * The sender now holds the session's client connection (ZooKeeper's REVALIDATE): the leader
   * records it as the session's owner and answers SESSIONMOVED to the session's writes that still
   * arrive from any other member (sent before they were, by a connection the client left).
   */
  | { kind: 'owner'; sessionId: bigint };
