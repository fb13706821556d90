import { CloseCode, CreateMode, ErrorCode } from '@conclave/core';
import { describe, expect, it } from 'vitest';
import { create, serverPerSuite, waitFor, WireClient } from './wire.js';

// tick 100 ms: timeouts are clamped to [200, 2000] ms, so expiry tests take well under a second.
describe('sessions', () => {
  const srv = serverPerSuite({ fsync: false, tickMs: 100 });

  it('negotiates the timeout into [2, 20] ticks', async () => {
    const lo = await WireClient.session(srv.url, { timeoutMs: 1 });
    expect(lo.connect!.timeoutMs).toBe(200);
    const hi = await WireClient.session(srv.url, { timeoutMs: 1_000_000 });
    expect(hi.connect!.timeoutMs).toBe(2000);
    const mid = await WireClient.session(srv.url, { timeoutMs: 700 });
    expect(mid.connect!.timeoutMs).toBe(700);
    expect(mid.connect!.password.length).toBe(16);
    await Promise.all([lo.closeSession(), hi.closeSession(), mid.closeSession()]);
  });

  it('expiry deletes the ephemerals and fires the watches of other sessions', async () => {
    const owner = await WireClient.session(srv.url, { timeoutMs: 300 });
    const watcher = await WireClient.session(srv.url, { timeoutMs: 2000 });
    await owner.request(create('/exp', '', CreateMode.EPHEMERAL));
    await watcher.request({ op: 'exists', path: '/exp', watch: true });
    await watcher.request({ op: 'getChildren', path: '/', watch: true });
    const before = Date.now();
    await owner.drop();
    await waitFor(
      () => watcher.events.some((e) => e.type === 'NodeDeleted' && e.path === '/exp'),
      5000,
      'NodeDeleted',
    );
    expect(Date.now() - before).toBeGreaterThanOrEqual(250);
    expect(watcher.events.map((e) => `${e.type} ${e.path}`)).toContain('NodeChildrenChanged /');
    expect((await watcher.request({ op: 'exists', path: '/exp', watch: false })).err).toBe(ErrorCode.NONODE);
    // the expired session cannot be resumed
    const again = await WireClient.open(srv.url);
    const r = await again.handshake({ sessionId: owner.sessionId, password: owner.connect!.password });
    expect(r.err).toBe(ErrorCode.SESSIONEXPIRED);
    expect((await again.onClose()).code).toBe(CloseCode.SESSION_EXPIRED);
    await watcher.closeSession();
  });

  it('an expired session that is still connected gets closed with SESSION_EXPIRED', async () => {
    const c = await WireClient.session(srv.url, { timeoutMs: 200 });
    // No pings: the lease runs out even though the socket is open.
    const closed = await c.onClose();
    expect(closed.code).toBe(CloseCode.SESSION_EXPIRED);
  });

  it('pings keep a session alive past its timeout', async () => {
    const c = await WireClient.session(srv.url, { timeoutMs: 300 });
    await c.request(create('/pinged', '', CreateMode.EPHEMERAL));
    const until = Date.now() + 900;
    while (Date.now() < until) {
      expect((await c.request({ op: 'ping' })).err).toBe(0);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await c.request({ op: 'exists', path: '/pinged', watch: false })).err).toBe(0);
    await c.closeSession();
  });

  it('closeSession deletes the ephemerals at once, then the socket closes', async () => {
    const owner = await WireClient.session(srv.url);
    const watcher = await WireClient.session(srv.url);
    await owner.request(create('/closing', '', CreateMode.EPHEMERAL));
    await watcher.request({ op: 'exists', path: '/closing', watch: true });
    const r = await owner.request({ op: 'closeSession' });
    expect(r.err).toBe(0);
    expect((await owner.onClose()).code).toBe(CloseCode.SESSION_CLOSED);
    expect((await watcher.request({ op: 'exists', path: '/closing', watch: false })).err).toBe(
      ErrorCode.NONODE,
    );
    expect(watcher.events.map((e) => `${e.type} ${e.path}`)).toContain('NodeDeleted /closing');
    await watcher.closeSession();
  });

  it('reconnecting within the timeout keeps the session and its ephemerals', async () => {
    const c = await WireClient.session(srv.url, { timeoutMs: 500 });
    await c.request(create('/kept', '', CreateMode.EPHEMERAL));
    await c.drop();
    const back = await WireClient.open(srv.url);
    const r = await back.handshake({
      sessionId: c.sessionId,
      password: c.connect!.password,
      lastZxidSeen: srv.server.lastZxid,
    });
    expect(r.err).toBe(0);
    expect(r.sessionId).toBe(c.sessionId);
    expect(r.timeoutMs).toBe(500);
    expect((await back.request({ op: 'exists', path: '/kept', watch: false })).err).toBe(0);
    await back.closeSession();
  });

  it('a wrong password is refused (AUTHFAILED) and the socket closed', async () => {
    const c = await WireClient.session(srv.url);
    const x = await WireClient.open(srv.url);
    const r = await x.handshake({ sessionId: c.sessionId, password: new Uint8Array(16) });
    expect(r.err).toBe(ErrorCode.AUTHFAILED);
    expect((await x.onClose()).code).toBe(CloseCode.SESSION_EXPIRED);
    // the real owner is unaffected
    expect((await c.request({ op: 'ping' })).err).toBe(0);
    await c.closeSession();
  });

  it('an unknown session id gets SESSIONEXPIRED', async () => {
    const x = await WireClient.open(srv.url);
    const r = await x.handshake({ sessionId: 0x0123456789n, password: new Uint8Array(16) });
    expect(r.err).toBe(ErrorCode.SESSIONEXPIRED);
    expect((await x.onClose()).code).toBe(CloseCode.SESSION_EXPIRED);
  });

  it('a newer connection for the same session closes the older one', async () => {
    const c = await WireClient.session(srv.url);
    const newer = await WireClient.open(srv.url);
    await newer.handshake({ sessionId: c.sessionId, password: c.connect!.password });
    const closed = await c.onClose();
    expect(closed.code).toBe(CloseCode.SESSION_CLOSED);
    expect(closed.reason).toMatch(/moved/);
    expect((await newer.request({ op: 'ping' })).err).toBe(0);
    await newer.closeSession();
  });

  it('a client that has seen a newer zxid is refused with SERVER_BEHIND', async () => {
    const x = await WireClient.open(srv.url);
    x.handshake({ lastZxidSeen: srv.server.lastZxid + 1000n }).catch(() => {});
    const closed = await x.onClose();
    expect(closed.code).toBe(CloseCode.SERVER_BEHIND);
    expect(closed.reason).toMatch(/zxid/);
  });

  it('an unsupported protocol version is refused', async () => {
    const x = await WireClient.open(srv.url);
    const { encodeFrame } = await import('@conclave/core');
    x.sendRaw(
      encodeFrame({
        protocolVersion: 99,
        lastZxidSeen: 0n,
        timeoutMs: 1000,
        sessionId: 0n,
        password: new Uint8Array(0),
        readOnly: false,
      }),
    );
    expect((await x.onClose()).code).toBe(CloseCode.PROTOCOL_VERSION);
  });

  it('requests sent before the connect response are answered after it, in order', async () => {
    const x = await WireClient.open(srv.url);
    const hs = x.handshake();
    const p = x.request(create('/early', 'e'));
    const q = x.request({ op: 'getData', path: '/early', watch: false });
    await hs;
    expect((await p).err).toBe(0);
    expect((await q).err).toBe(0);
    await x.closeSession();
  });
});
