import { randomBytes } from 'node:crypto';
import { CloseCode, encodeFrame, PROTOCOL_VERSION } from '@conclave/core';
import fc from 'fast-check';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { validateConnectRequest, validateRequestFrame } from '../../src/net/validate.js';
import { create, serverPerSuite, WireClient } from './wire.js';

const CONNECT = encodeFrame({
  protocolVersion: PROTOCOL_VERSION,
  lastZxidSeen: 0n,
  timeoutMs: 4000,
  sessionId: 0n,
  password: new Uint8Array(0),
  readOnly: false,
});

/** A hostile frame: random bytes, a truncated valid frame, valid CBOR of the wrong shape, or text. */
function badFrame(i: number, maxFrameBytes: number): Uint8Array | string {
  const valid = encodeFrame({ xid: i, op: 'create', path: '/x', data: new Uint8Array(8), acl: [], mode: 0 });
  switch (i % 6) {
    case 0:
      return randomBytes(1 + (i % 200));
    case 1:
      return valid.subarray(0, i % valid.length);
    case 2:
      return encodeFrame({ xid: 'one', op: 'getData', path: 7 });
    case 3:
      return encodeFrame([i, 'getData', '/x']);
    case 4:
      return i % 500 === 4
        ? new Uint8Array(maxFrameBytes + 1 + (i % 1000))
        : encodeFrame({ xid: i, op: 'nope' });
    default:
      return i % 100 === 5
        ? 'text frame'
        : encodeFrame({ xid: i, op: 'multi', ops: [{ op: 'getData', path: '/x' }] });
  }
}

function hit(url: string, frame: Uint8Array | string, handshake: boolean): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('error', () => {});
    ws.on('open', () => {
      if (handshake) {
        ws.send(CONNECT);
        ws.once('message', () => ws.send(frame));
      } else {
        ws.send(frame);
      }
    });
    ws.on('close', (code) => resolve(code));
  });
}

describe('protocol robustness', () => {
  const maxFrameBytes = 16 * 1024;
  const srv = serverPerSuite({ fsync: false, maxFrameBytes, maxConnectionsPerIp: 10_000 });

  it('the validators reject every malformed value with a MarshallingError, never anything else', () => {
    fc.assert(
      fc.property(fc.anything({ withBigInt: true, withTypedArray: true }), (v) => {
        for (const check of [validateRequestFrame, validateConnectRequest]) {
          try {
            check(v);
          } catch (err) {
            expect((err as Error).name).toBe('MarshallingError');
          }
        }
      }),
      { numRuns: 20_000 },
    );
  });

  it('10k random, truncated, mistyped and oversized frames: each closes only its own connection', async () => {
    const good = await WireClient.session(srv.url);
    await good.request(create('/steady', 'ok'));
    const total = 10_000;
    const batch = 100;
    const codes = new Map<number, number>();
    let goodOps = 0;
    for (let start = 0; start < total; start += batch) {
      const hits: Promise<number>[] = [];
      for (let i = start; i < start + batch; i++)
        hits.push(hit(srv.url, badFrame(i, maxFrameBytes), i % 20 === 0));
      // the well-behaved client keeps working throughout
      const r = await good.request({ op: 'getData', path: '/steady', watch: false });
      expect(r.err).toBe(0);
      goodOps++;
      for (const code of await Promise.all(hits)) codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    expect(goodOps).toBe(total / batch);
    const closedOk =
      (codes.get(CloseCode.MALFORMED_FRAME) ?? 0) + (codes.get(CloseCode.FRAME_TOO_LARGE) ?? 0);
    expect(closedOk).toBe(total);
    expect(codes.get(CloseCode.FRAME_TOO_LARGE) ?? 0).toBeGreaterThan(0);
    expect((await fetch(`${srv.server.adminUrl}/ruok`).then((r) => r.text())).trim()).toBe('imok');
    expect((await good.request(create('/after', 'still here'))).err).toBe(0);
    await good.closeSession();
  }, 120_000);

  it('the close reason says what was wrong', async () => {
    const x = await WireClient.open(srv.url);
    x.sendRaw(encodeFrame({ xid: 1, op: 'getData', path: '/x', watch: 'yes' }));
    const c = await x.onClose();
    expect(c.code).toBe(CloseCode.MALFORMED_FRAME);
    expect(c.reason).toMatch(/timeoutMs|connect/);
    const y = await WireClient.session(srv.url);
    y.sendRaw(encodeFrame({ xid: 1, op: 'getData', path: '/x', watch: 'yes' }));
    const d = await y.onClose();
    expect(d.code).toBe(CloseCode.MALFORMED_FRAME);
    expect(d.reason).toBe("getData: field 'watch' must be a boolean");
  });
});
