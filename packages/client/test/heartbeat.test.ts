import { encodeFrame, Xid } from '@conclave/core';
import { afterEach, expect, it } from 'vitest';
import { type ConclaveClient, type ConnectionState, connect } from '../src/index.js';
import { FreezableProxy, TestServer, waitFor } from './helpers.js';

let srv: TestServer | undefined;
let proxy: FreezableProxy | undefined;
let client: ConclaveClient | undefined;
afterEach(async () => {
  await client?.close();
  await proxy?.close();
  await srv?.stop();
  client = proxy = srv = undefined;
});

it('pings an idle connection often enough to keep a short session alive', async () => {
  srv = await TestServer.start({ tickMs: 50 });
  proxy = await FreezableProxy.start(srv.server.port);
  client = await connect(`127.0.0.1:${proxy.port}`, { sessionTimeoutMs: 600 });
  await client.create('/alive', '', { mode: 'EPHEMERAL' });
  const states: ConnectionState[] = [];
  client.on('state', (s) => states.push(s));
  // Idle for ~4 session timeouts, measured by the pings that cross the proxy (one every 200 ms).
  // A ping is one masked WebSocket frame: 2 header bytes, a 4-byte mask, the CBOR frame.
  const pingBytes = 6 + encodeFrame({ xid: Xid.PING, op: 'ping' }).length;
  const start = proxy.bytesUp;
  await waitFor(() => proxy!.bytesUp - start >= 12 * pingBytes, '12 pings', 15_000);
  expect(states).toEqual([]);
  expect((await client.exists('/alive'))?.ephemeralOwner).toBe(client.sessionId);
});

it('declares a silent connection lost after the read timeout and reconnects', async () => {
  srv = await TestServer.start({ tickMs: 50 });
  proxy = await FreezableProxy.start(srv.server.port);
  client = await connect(`127.0.0.1:${proxy.port}`, {
    sessionTimeoutMs: 900,
    retry: { minTimeoutMs: 20, maxTimeoutMs: 50 },
  });
  await client.create('/eph', '', { mode: 'EPHEMERAL' });
  const states: ConnectionState[] = [];
  client.on('state', (s) => states.push(s));
  const frozenAt = performance.now();
  proxy.freeze();
  await waitFor(() => client!.state === 'SUSPENDED' || client!.state === 'RECONNECTED', 'SUSPENDED');
  // Two thirds of the 900 ms timeout, give or take a heartbeat check (and a busy CI machine).
  expect(performance.now() - frozenAt).toBeGreaterThanOrEqual(550);
  await waitFor(() => client!.state === 'RECONNECTED', 'RECONNECTED');
  expect(states).toEqual(['SUSPENDED', 'RECONNECTED']);
  expect((await client.exists('/eph'))?.ephemeralOwner).toBe(client.sessionId);
});
