import { makeZxid, type TxnEntry } from '@conclave/core';
import { describe, expect, it } from 'vitest';
import { type LogSyncMessage, logSyncFrames } from '../../src/ensemble/log-sync-stream.js';
import type { QuorumMessage } from '../../src/ensemble/messages.js';

/**
 * The leader's shell streams the older part of a DIFF from its durable log. Whatever the node
 * planned, the stream must carry exactly the planned history: each entry following the previous,
 * `count` of them, ending at `to` — otherwise it fails instead of ending short.
 */

const entry = (epoch: number, counter: number): TxnEntry => ({
  zxid: makeZxid(epoch, counter),
  sessionId: 0n,
  cxid: 0,
  time: 0,
  txn: { type: 'error', err: 0 } as TxnEntry['txn'],
});
const run = (epoch: number, from: number, to: number): TxnEntry[] =>
  Array.from({ length: to - from + 1 }, (_, i) => entry(epoch, from + i));

/** The durable log as Storage.readFrom hands it out: the entries after `zxid`. */
async function* readFrom(log: TxnEntry[], zxid: bigint): AsyncGenerator<TxnEntry> {
  for (const e of log) if (e.zxid > zxid) yield e;
}

const diff = (zxid: bigint): LogSyncMessage => ({
  type: 'diff',
  from: 1,
  to: 2,
  conn: 3,
  seq: 10,
  epoch: 4,
  zxid,
});

async function collect(it: AsyncIterable<QuorumMessage>): Promise<{ frames: QuorumMessage[]; err?: Error }> {
  const frames: QuorumMessage[] = [];
  try {
    for await (const f of it) frames.push(f);
  } catch (err) {
    return { frames, err: err as Error };
  }
  return { frames };
}

const proposals = (frames: QuorumMessage[]) =>
  frames.flatMap((f) => (f.kind === 'zab' && f.msg.type === 'proposal' ? [f.msg] : []));

describe('DIFF streamed from the log (log-sync-stream.ts)', () => {
  const disk = [...run(1, 1, 10), ...run(2, 1, 3), ...run(3, 1, 2)];

  it('streams exactly the planned entries on the reserved sequence numbers', async () => {
    const { frames, err } = await collect(
      logSyncFrames(diff(makeZxid(1, 8)), { to: makeZxid(2, 3), count: 5 }, readFrom(disk, makeZxid(1, 8))),
    );
    expect(err).toBeUndefined();
    const ps = proposals(frames);
    expect(ps.map((p) => p.entry.zxid)).toEqual([...run(1, 9, 10), ...run(2, 1, 3)].map((e) => e.zxid));
    expect(ps.map((p) => p.seq)).toEqual([11, 12, 13, 14, 15]);
  });

  it('fails a plan that is short by whole epochs instead of ending early', async () => {
    // Planned from epoch records that start at (2,3): 3 entries to (2,3), though 13 lie before it.
    const { err } = await collect(
      logSyncFrames(diff(0n), { to: makeZxid(2, 3), count: 3 }, readFrom(disk, 0n)),
    );
    expect(err?.message).toMatch(/held 3 of the 3 entries/);
  });

  it('fails on a hole in the log before sending the entry after it', async () => {
    const holed = disk.filter((e) => e.zxid !== makeZxid(1, 9));
    const { frames, err } = await collect(
      logSyncFrames(diff(makeZxid(1, 7)), { to: makeZxid(2, 1), count: 4 }, readFrom(holed, makeZxid(1, 7))),
    );
    expect(err?.message).toMatch(/does not continue/);
    expect(proposals(frames).map((p) => p.entry.zxid)).toEqual([makeZxid(1, 8)]);
  });

  it('fails when the log ends before the planned range does', async () => {
    const { err } = await collect(
      logSyncFrames(diff(makeZxid(2, 1)), { to: makeZxid(3, 3), count: 5 }, readFrom(disk, makeZxid(2, 1))),
    );
    expect(err?.message).toMatch(/held 4 of the 5/);
  });
});
