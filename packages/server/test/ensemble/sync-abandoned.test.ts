import { DEFAULT_DECODE_LIMITS, decodeFrame, encodeFrame, type TxnEntry } from '@conclave/core';
import { describe, expect, it } from 'vitest';
import { type RawData, WebSocket } from 'ws';
// The server package does not depend on the client; the test imports its sources directly.
import { connect } from '../../../client/src/index.js';
import type { EnsembleMember } from '../../src/ensemble/index.js';
import type { QuorumMessage } from '../../src/ensemble/messages.js';
import type { ZabMessage } from '../../src/zab/index.js';
import { useSoloMember } from './solo-member.js';

async function waitFor(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const NODES = 40;
const NODE_BYTES = 900 * 1024;

/**
 * A sync the leader gave up on must not hold back what it sends that learner next: a learner that
 * starts over (a new FOLLOWERINFO) or that the leader dropped (not synced within initLimit) finds
 * its new NEWEPOCH behind at most what was already in the socket buffers, not behind the whole old
 * sync. Member 1 leads alone over a ~35 MB database; the test is learner 2 (an observer in the
 * config), speaking the quorum protocol on a raw socket it stops reading mid-sync.
 */
describe('an abandoned sync stream', () => {
  const solo = useSoloMember();

  /**
   * Syncs learner 2 on connection 1 and stops reading at the sync's first frame; `restart` then
   * makes it connect again with a FOLLOWERINFO on `conn`. Returns the bytes of the old sync that
   * arrived after the pause and before the new NEWEPOCH.
   */
  async function staleBytesAfter(
    initLimitTicks: number,
    restart: (member: EnsembleMember) => Promise<number>,
  ): Promise<number> {
    const member = await solo({
      extra: [{ id: 2, host: '127.0.0.1', clientPort: 1, quorumPort: 1, role: 'observer' }],
      quorum: { maxQueuedBytes: 1024 * 1024, snapChunkBytes: 256 * 1024 },
      timing: { initLimitTicks },
    });
    const c = await connect(member.connectString, { sessionTimeoutMs: 10_000 });
    try {
      await Promise.all(
        Array.from({ length: NODES }, (_, i) => c.create(`/n${i}`, new Uint8Array(NODE_BYTES).fill(i))),
      );
    } finally {
      await c.close();
    }

    const ws = new WebSocket(`ws://127.0.0.1:${member.quorumPort}/`, { perMessageDeflate: false });
    ws.on('error', () => {});
    const limits = { ...DEFAULT_DECODE_LIMITS, maxBytes: 64 * 1024 * 1024, maxElements: 1 << 24 };
    const got: QuorumMessage[] = [];
    // Once the ACKEPOCH is sent, the first frame of the sync makes this learner stop reading, as a
    // stuck or dying one would; `before`: how much it had read by then.
    let pauseAtSync = false;
    let before = -1;
    ws.on('message', (data: RawData) => {
      got.push(decodeFrame(data as Buffer, limits) as QuorumMessage);
      if (pauseAtSync && before < 0) {
        before = got.length;
        ws.pause();
      }
    });
    const send = (msg: ZabMessage<TxnEntry>) =>
      ws.send(encodeFrame({ kind: 'zab', msg } satisfies QuorumMessage));
    const newEpochs = () =>
      got.flatMap((m, i) => (m.kind === 'zab' && m.msg.type === 'newEpoch' ? [{ i, msg: m.msg }] : []));
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      ws.send(encodeFrame({ kind: 'hello', from: 2, to: 1 } satisfies QuorumMessage));
      send({ type: 'followerInfo', from: 2, to: 1, conn: 1, acceptedEpoch: 0, observer: true });
      await waitFor('NEWEPOCH', () => newEpochs().length === 1);
      const epoch = newEpochs()[0]!.msg.epoch;
      pauseAtSync = true;
      send({
        type: 'ackEpoch',
        from: 2,
        to: 1,
        conn: 1,
        epoch,
        repeated: false,
        currentEpoch: 0,
        lastZxid: 0n,
        snapshotZxid: 0n,
        epochs: [],
      });
      await waitFor('the sync stream', () => before >= 0);
      const conn = await restart(member);
      send({ type: 'followerInfo', from: 2, to: 1, conn, acceptedEpoch: epoch, observer: true });
      ws.resume();
      await waitFor('the new NEWEPOCH', () => newEpochs().length === 2, 60_000);
      const stale = got.slice(before, newEpochs()[1]!.i).reduce((n, m) => n + encodeFrame(m).length, 0);
      console.log(`stale sync bytes before the new NEWEPOCH: ${stale} of a ${NODES * NODE_BYTES}-byte sync`);
      return stale;
    } finally {
      ws.terminate();
    }
  }

  it('is cancelled when the learner starts over on a new connection', async () => {
    // initLimit long enough that the leader does not drop the learner meanwhile.
    const stale = await staleBytesAfter(3000, async () => 2);
    // What was already in the socket buffers still arrives; the rest of the old sync does not.
    expect(stale).toBeLessThan((NODES * NODE_BYTES) / 2);
  }, 120_000);

  it('is cancelled when the leader drops the learner (not synced within initLimit)', async () => {
    const stale = await staleBytesAfter(10, async (member) => {
      await waitFor('the learner dropped', () => member.status().learners === 0);
      return 1; // the same connection again: only the drop can have cancelled the stream
    });
    expect(stale).toBeLessThan((NODES * NODE_BYTES) / 2);
  }, 120_000);
});
