import type { TxnEntry } from '@conclave/core';
import { isNextZxid } from '../zab/history.js';
import type { LogRange, ZabMessage } from '../zab/types.js';
import type { QuorumMessage } from './messages.js';

const hex = (z: bigint) => `0x${z.toString(16)}`;

/** A DIFF/TRUNC whose older part the leader's shell reads from its durable log. */
export type LogSyncMessage = Extract<ZabMessage<TxnEntry>, { type: 'diff' | 'trunc' }>;

/**
 * The frames of a DIFF/TRUNC whose older part comes from the durable log (`range`, the node's
 * `fromLog`): the message itself, then the entries (m.zxid, range.to] as PROPOSALs on the
 * sequence numbers the node reserved (m.seq + 1 …).
 *
 * Defence in depth for what the node planned: every entry must follow the one before it (the
 * first follows m.zxid), there must be exactly `range.count` of them and the last must be
 * `range.to`. Anything else throws before a wrong entry is sent — the learner accepts a new
 * epoch's counter 1 after any zxid, so a short or gapped stream would be logged as a history that
 * silently lacks committed txns. The caller fails the stream (the learner starts over) and stops
 * offering log DIFFs from that point.
 */
export async function* logSyncFrames(
  m: LogSyncMessage,
  range: LogRange,
  log: AsyncIterable<TxnEntry>,
): AsyncGenerator<QuorumMessage> {
  yield { kind: 'zab', msg: m };
  let n = 0;
  let last = m.zxid;
  for await (const entry of log) {
    if (entry.zxid <= m.zxid) continue;
    if (n === range.count) break;
    if (!isNextZxid(last, entry.zxid) || entry.zxid > range.to) {
      throw new Error(
        `the log does not continue the DIFF: ${hex(entry.zxid)} after ${hex(last)} (entry ${n + 1} of ${range.count}, to ${hex(range.to)})`,
      );
    }
    const msg: ZabMessage<TxnEntry> = {
      type: 'proposal',
      from: m.from,
      to: m.to,
      conn: m.conn,
      seq: m.seq + 1 + n,
      epoch: m.epoch,
      entry,
    };
    yield { kind: 'zab', msg };
    last = entry.zxid;
    n++;
  }
  if (n !== range.count || last !== range.to) {
    throw new Error(
      `the log held ${n} of the ${range.count} entries after ${hex(m.zxid)} (to ${hex(last)}, not ${hex(range.to)})`,
    );
  }
}
