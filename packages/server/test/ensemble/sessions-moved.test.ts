import { CloseCode, ErrorCode, type Request } from '@conclave/core';
import { describe, expect, it } from 'vitest';
import { create as createReq, type Frame, td, te, WireClient } from '../server/wire.js';
import { useEnsemble } from './fixture.js';

const setData = (path: string, data: string): Request => ({
  op: 'setData',
  path,
  data: te.encode(data),
  version: -1,
});

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Session ownership (ZooKeeper's SESSIONMOVED). A client's write still in flight from the member
 * it left must not be applied after the writes it made since through its new member: the leader
 * records which member holds each session and answers SESSIONMOVED to the old one, which closes
 * that stale connection.
 *
 * The race is made deterministic with SIGSTOP: the old member is frozen, the write is sent to its
 * (kernel-buffered) socket, the client moves and writes through another member, then the old
 * member resumes and forwards the stale write. tickMs 1000: syncLimit (5 s) is far longer than the
 * freeze, so the old member is still a synced follower when it resumes.
 */
describe('a session that moved to another member (SESSIONMOVED)', () => {
  const fx = useEnsemble({ size: 3, tickMs: 1000 });

  it('a stale write from the old member is refused, not applied after the newer one', async () => {
    const { ens } = fx;
    const leader = (await ens.leader())!;
    await waitFor('every member serving', async () =>
      (await Promise.all(ens.members.map((m) => ens.status(m.id)))).every((st) => st?.serving),
    );
    const [oldM, newM] = ens.members.filter((m) => m.id !== leader);
    const url = (port: number) => `ws://127.0.0.1:${port}/`;
    const onOld = await WireClient.session(url(oldM!.clientPort), { timeoutMs: 10_000 });
    const created = await onOld.request(createReq('/x', 'v0'));
    expect(created.err).toBe(0);
    const closedOnOld = onOld.onClose();
    const pid = oldM!.pid as number;
    process.kill(pid, 'SIGSTOP');
    let stale: Promise<Frame>;
    let onNew: WireClient;
    try {
      // Sits in the frozen member's socket buffer.
      stale = onOld.request(setData('/x', 'old'));
      // The client moves (its old connection looks dead to it) and writes through another member.
      // (Retried while that member has not applied the create yet: SERVER_BEHIND.)
      onNew = await waitFor('the session resumed on another member', () =>
        WireClient.session(url(newM!.clientPort), {
          sessionId: onOld.sessionId,
          password: onOld.connect!.password,
          lastZxidSeen: created.zxid,
        }),
      );
      const fresh = await onNew.request(setData('/x', 'new'));
      expect(fresh.err).toBe(0);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // The stale write reaches the leader after the newer one: refused, and its connection closed.
    const r = await stale;
    expect(r.err).toBe(ErrorCode.SESSIONMOVED);
    expect((await closedOnOld).code).toBe(CloseCode.SESSION_CLOSED);
    // FIFO held: the value is the client's last write, on every member.
    for (const m of ens.members) {
      const c = await waitFor(`a session on member ${m.id}`, () =>
        WireClient.session(url(m.clientPort), { timeoutMs: 10_000 }),
      );
      expect((await c.request({ op: 'sync', path: '/x' } as Request)).err).toBe(0);
      const got = await c.request({ op: 'getData', path: '/x', watch: false } as Request);
      expect(td.decode(got.data as Uint8Array)).toBe('new');
      c.ws.close();
    }
    // The session lives on at its new member.
    const after = await onNew.request(setData('/x', 'after'));
    expect(after.err).toBe(0);
    onNew.ws.close();
  }, 90_000);

  it('a session closed through another member closes its connection here too', async () => {
    const { ens } = fx;
    const url = (port: number) => `ws://127.0.0.1:${port}/`;
    const [a, b] = ens.members;
    const onA = await waitFor('a session on the first member', () =>
      WireClient.session(url(a!.clientPort), { timeoutMs: 10_000 }),
    );
    const created = await onA.request(createReq('/closing', ''));
    expect(created.err).toBe(0);
    const closedOnA = onA.onClose();
    const onB = await waitFor('the session resumed on another member', () =>
      WireClient.session(url(b!.clientPort), {
        sessionId: onA.sessionId,
        password: onA.connect!.password,
        lastZxidSeen: created.zxid,
      }),
    );
    expect((await onB.closeSession()).err).toBe(0);
    // The first member applied the closeSession: the client's old connection there learns of it.
    expect((await closedOnA).code).toBe(CloseCode.SESSION_EXPIRED);
  }, 60_000);

  it('a closeSession is never owner-checked: the old connection may close the moved session (ZooKeeper)', async () => {
    const { ens } = fx;
    const url = (port: number) => `ws://127.0.0.1:${port}/`;
    const [a, b] = ens.members;
    const onA = await waitFor('a session on the first member', () =>
      WireClient.session(url(a!.clientPort), { timeoutMs: 10_000 }),
    );
    const created = await onA.request(createReq('/closing-from-old', ''));
    expect(created.err).toBe(0);
    const onB = await waitFor('the session resumed on another member', () =>
      WireClient.session(url(b!.clientPort), {
        sessionId: onA.sessionId,
        password: onA.connect!.password,
        lastZxidSeen: created.zxid,
      }),
    );
    // A write through the second member: its owner announcement precedes it on the same link, so
    // once it is answered the leader knows the session moved.
    expect((await onB.request(createReq('/closing-from-old/moved', ''))).err).toBe(0);
    const closedOnB = onB.onClose();
    // The second member now owns the session; a close still arriving through the first one (the
    // client closing while it moves) must end the session, not bounce off SESSIONMOVED and leave
    // it, and its ephemerals, alive until the timeout.
    expect((await onA.closeSession()).err).toBe(0);
    expect((await closedOnB).code).toBe(CloseCode.SESSION_EXPIRED);
  }, 60_000);

  it('a session created moments ago through another member can be resumed at once (not EXPIRED)', async () => {
    const { ens } = fx;
    const url = (port: number) => `ws://127.0.0.1:${port}/`;
    const [a, b] = ens.members;
    // The client has seen no zxid yet (lastZxidSeen 0), so the second member cannot tell it is
    // behind: it must find out from the leader (a sync) that the session exists.
    for (let i = 0; i < 30; i++) {
      const onA = await waitFor('a session on the first member', () =>
        WireClient.session(url(a!.clientPort), { timeoutMs: 10_000 }),
      );
      const onB = await WireClient.open(url(b!.clientPort));
      const r = await onB.handshake({ sessionId: onA.sessionId, password: onA.connect!.password });
      expect(r.err, `resume ${i}`).toBe(0);
      expect((await onB.closeSession()).err).toBe(0);
      onA.ws.close();
    }
  }, 90_000);

  it('a client that moves back and forth keeps writing (each move re-announces its owner)', async () => {
    const { ens } = fx;
    const url = (port: number) => `ws://127.0.0.1:${port}/`;
    const first = ens.members[0]!;
    let conn = await WireClient.session(url(first.clientPort), { timeoutMs: 10_000 });
    const sessionId = conn.sessionId;
    const password = conn.connect!.password;
    let last = (await conn.request(createReq('/hop', '0'))).zxid;
    for (let i = 1; i <= 6; i++) {
      await conn.drop();
      const m = ens.members[i % ens.members.length]!;
      // A member may not have applied `last` yet (SERVER_BEHIND): the client tries again, as ours do.
      conn = await waitFor(`resume on member ${m.id}`, () =>
        WireClient.session(url(m.clientPort), { sessionId, password, lastZxidSeen: last }),
      );
      const r = await conn.request(setData('/hop', String(i)));
      expect(r.err, `write ${i} via member ${m.id}`).toBe(0);
      last = r.zxid;
    }
    const got = await conn.request({ op: 'getData', path: '/hop', watch: false } as Request);
    expect(td.decode(got.data as Uint8Array)).toBe('6');
    conn.ws.close();
  }, 90_000);
});
