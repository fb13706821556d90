import { CloseCode, encodeFrame } from '@conclave/core';
import { describe, expect, it } from 'vitest';
import { create, serverPerSuite, waitFor, WireClient } from './wire.js';

/**
 * A client that sends requests and never reads its socket must not make the server buffer
 * without bound (a memory DoS): the server stops answering it once its unsent output passes
 * maxBufferedBytesPerConnection, and closes it with SLOW_CONSUMER when notifications (which are
 * never held back) would take the output past the hard cap.
 */
describe('slow consumer', () => {
  const softBytes = 256 * 1024;
  const maxFrameBytes = 128 * 1024;
  const dataBytes = 100 * 1024;
  // closeBufferedBytes(): max(4 × soft, soft + 2 × frame)
  const hardBytes = 4 * softBytes;
  const srv = serverPerSuite({
    fsync: false,
    maxFrameBytes,
    maxDataBytes: dataBytes,
    maxBufferedBytesPerConnection: softBytes,
  });

  async function consLine(sessionId: bigint): Promise<string | undefined> {
    const cons = await fetch(`${srv.server.adminUrl}/cons`).then((r) => r.text());
    return cons.split('\n').find((l) => l.includes(`sid=0x${sessionId.toString(16)}`));
  }
  const field = (line: string, name: string): number => Number(new RegExp(`${name}=(\\d+)`).exec(line)?.[1]);
  const mntrValue = async (name: string): Promise<number> => {
    const text = await fetch(`${srv.server.adminUrl}/mntr`).then((r) => r.text());
    return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
  };

  it('stops answering a client that does not read, keeps serving others, then closes it with SLOW_CONSUMER', async () => {
    // Long session timeouts: these test clients send no pings.
    const writer = await WireClient.session(srv.url, LONG);
    await writer.request(create('/big', 'x'.repeat(dataBytes)));
    await writer.request(create('/n'));
    const slow = await WireClient.session(srv.url, LONG);
    expect((await slow.request({ op: 'addWatch', path: '/n', mode: 'PERSISTENT_RECURSIVE' })).err).toBe(0);
    const arrayBuffersBefore = process.memoryUsage().arrayBuffers;

    // The slow client stops reading, then asks for 900 × 100 KiB (90 MiB if all were answered;
    // the kernel socket buffers absorb only the first few MiB).
    slow.ws.pause();
    const requests = 900;
    for (let i = 0; i < requests; i++) slow.sendRaw(encodeGetData(1000 + i));
    let line = '';
    await waitFor(
      async () => {
        line = (await consLine(slow.sessionId)) ?? '';
        return field(line, 'recved') >= requests + 1 && field(line, 'paused') === 1;
      },
      30_000,
      'the server to read every request and pause the slow connection',
    );
    // Most requests wait unanswered; the unsent output stays near the soft bound (plus one frame).
    expect(field(line, 'queued')).toBeGreaterThan(requests / 2);
    expect(field(line, 'peakbuf')).toBeLessThanOrEqual(softBytes + maxFrameBytes);
    expect(process.memoryUsage().arrayBuffers - arrayBuffersBefore).toBeLessThan(24 * 1024 * 1024);

    // Everyone else is served as usual, large responses included.
    const other = await WireClient.session(srv.url, LONG);
    for (let i = 0; i < 5; i++) {
      const r = await other.request({ op: 'getData', path: '/big', watch: false });
      expect(r.err).toBe(0);
      expect((r.data as Uint8Array).length).toBe(dataBytes);
    }

    // Notifications are not held back: long paths under the slow client's recursive watch push
    // its output past the hard cap, and the server closes it instead of buffering more.
    const longName = 'n'.repeat(3000);
    let created = 0;
    while ((await mntrValue('zk_slow_consumer_closes')) === 0) {
      if (created > 2000) throw new Error('the slow consumer was never closed');
      const batch: Promise<unknown>[] = [];
      for (let i = 0; i < 20; i++) batch.push(writer.request(create(`/n/${longName}${created++}`)));
      await Promise.all(batch);
    }
    // It held no more than the hard cap: ~3 KB per notification beyond the soft bound.
    expect(created * 3000).toBeGreaterThan(hardBytes - softBytes - maxFrameBytes);
    // Once it reads again it finds, after what was already sent, the close and its reason.
    slow.ws.resume();
    const closed = await slow.onClose();
    expect(closed.code).toBe(CloseCode.SLOW_CONSUMER);
    expect(closed.reason).toMatch(/slow consumer: \d+ bytes unsent, limit \d+/);
    expect(slow.frames.length).toBeLessThan(requests);

    // The others are unaffected.
    expect((await other.request({ op: 'getData', path: '/big', watch: false })).err).toBe(0);
    expect((await writer.request(create('/after'))).err).toBe(0);
    await Promise.all([other.closeSession(), writer.closeSession()]);
  }, 120_000);

  it('a client that reads slowly but steadily gets every answer, in order', async () => {
    const c = await WireClient.session(srv.url);
    await c.request(create('/steady', 'y'.repeat(dataBytes)));
    const n = 60; // 6 MiB of responses through a 256 KiB window
    const all: Promise<{ err: number; xid: number }>[] = [];
    for (let i = 0; i < n; i++) all.push(c.request({ op: 'getData', path: '/steady', watch: false }));
    const results = await Promise.all(all);
    expect(results.every((r) => r.err === 0)).toBe(true);
    const xids = results.map((r) => r.xid);
    expect(xids).toEqual([...xids].sort((a, b) => a - b));
    const line = (await consLine(c.sessionId)) ?? '';
    expect(field(line, 'peakbuf')).toBeLessThanOrEqual(softBytes + maxFrameBytes);
    await c.closeSession();
  }, 60_000);
});

const LONG = { timeoutMs: 40_000 };

function encodeGetData(xid: number): Uint8Array {
  return encodeFrame({ xid, op: 'getData', path: '/big', watch: false });
}
