import { encodeFrame } from '@conclave/core';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { QuorumMessage } from '../../src/ensemble/messages.js';
import { type PeerAddress, QuorumTransport } from '../../src/ensemble/transport.js';

const log = pino({ level: 'silent' });

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const fwd = (cxid: number): QuorumMessage => ({
  kind: 'refused',
  sessionId: 0x0100000000000001n,
  cxid,
  err: -127,
});

describe('QuorumTransport', () => {
  const open: QuorumTransport[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
  });

  async function pair(port1 = 0): Promise<{
    t1: QuorumTransport;
    t2: QuorumTransport;
    got1: Array<[number, QuorumMessage]>;
    got2: Array<[number, QuorumMessage]>;
    peers2: Map<number, PeerAddress>;
  }> {
    const got1: Array<[number, QuorumMessage]> = [];
    const got2: Array<[number, QuorumMessage]> = [];
    const t1 = new QuorumTransport({
      id: 1,
      peers: new Map([[2, { host: '127.0.0.1', port: 1 }]]),
      host: '127.0.0.1',
      port: port1,
      onMessage: (from, m) => got1.push([from, m]),
      log,
    });
    await t1.start();
    open.push(t1);
    const peers2 = new Map([[1, { host: '127.0.0.1', port: t1.port }]]);
    const t2 = new QuorumTransport({
      id: 2,
      peers: peers2,
      host: '127.0.0.1',
      port: 0,
      onMessage: (from, m) => got2.push([from, m]),
      log,
    });
    await t2.start();
    open.push(t2);
    return { t1, t2, got1, got2, peers2 };
  }

  it('connects the pair once (the larger id dials) and delivers both ways in order', async () => {
    const { t1, t2, got1, got2 } = await pair();
    await waitFor('connected', () => t1.connected(2) && t2.connected(1));
    for (let i = 0; i < 200; i++) {
      t1.send(2, fwd(i));
      t2.send(1, fwd(1000 + i));
    }
    await waitFor('all delivered', () => got1.length === 200 && got2.length === 200);
    expect(got2.map(([from, m]) => [from, (m as { cxid: number }).cxid])).toEqual(
      Array.from({ length: 200 }, (_, i) => [1, i]),
    );
    expect(got1.map(([, m]) => (m as { cxid: number }).cxid)).toEqual(
      Array.from({ length: 200 }, (_, i) => 1000 + i),
    );
  });

  it('drops (and counts) messages while disconnected, and reconnects when the peer is back', async () => {
    const { t1, t2, got2 } = await pair();
    await waitFor('connected', () => t2.connected(1));
    const port = t1.port;
    await t1.close();
    open.splice(open.indexOf(t1), 1);
    await waitFor('disconnected', () => !t2.connected(1));
    t2.send(1, fwd(1));
    expect(t2.dropped).toBe(1);
    // Member 1 comes back on the same port; member 2 redials with bounded backoff.
    const t1b = new QuorumTransport({
      id: 1,
      peers: new Map([[2, { host: '127.0.0.1', port: t2.port }]]),
      host: '127.0.0.1',
      port,
      onMessage: () => {},
      log,
    });
    await t1b.start();
    open.push(t1b);
    await waitFor('reconnected', () => t2.connected(1) && t1b.connected(2));
    t1b.send(2, fwd(7));
    await waitFor('delivered after reconnect', () =>
      got2.some(([, m]) => (m as { cxid: number }).cxid === 7),
    );
  });

  it('refuses a connection that does not introduce itself as a member dialing in the right direction', async () => {
    const { t1 } = await pair();
    const ws = new WebSocket(`ws://127.0.0.1:${t1.port}/`);
    await new Promise((r) => ws.once('open', r));
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    // Member 3 is not in member 1's ensemble.
    ws.send(encodeFrame({ kind: 'hello', from: 3, to: 1 }));
    expect(await closed).toBe(4000);
  });
});
