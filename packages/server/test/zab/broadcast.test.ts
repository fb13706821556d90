import { describe, expect, it } from 'vitest';
import { Harness, labels } from './harness.js';

describe('broadcast', () => {
  it('the leader counts its own ACK only once its append is durable (advance)', () => {
    const h = new Harness([1, 2, 3]);
    const l = h.stable();
    const [a] = [1, 2, 3].filter((x) => x !== l) as [number];
    const L = h.node(l);
    const before = L.committedZxid;
    const r = L.propose({ label: 'x' });
    if (!r.ok) throw new Error('refused');
    const rd = L.ready(); // the shell has not fsynced yet
    const toA = rd.messages.filter((m) => m.to === a && m.type === 'proposal');
    expect(toA).toHaveLength(1);
    const A = h.node(a);
    A.step(toA[0]!);
    const rdA = A.ready();
    A.advance();
    const ack = rdA.messages.find((m) => m.type === 'ack')!;
    L.step(ack);
    // One follower ACK + a leader that has not persisted = no quorum yet.
    expect(L.committedZxid).toBe(before);
    L.advance();
    expect(L.committedZxid).toBe(r.zxid);
  });

  it('pipelines proposals: many in flight, committed and applied in zxid order everywhere', () => {
    const h = new Harness([1, 2, 3, 4, 5]);
    const l = h.stable();
    const zxids: bigint[] = [];
    for (let i = 0; i < 50; i++) {
      const r = h.node(l).propose({ label: `p${i}` });
      if (!r.ok) throw new Error('refused');
      zxids.push(r.zxid);
    }
    h.pump();
    for (const id of [1, 2, 3, 4, 5]) {
      expect(h.member(id).applied.map((e) => e.zxid)).toEqual(zxids);
    }
  });

  it('observers get INFORM (committed txns), never PROPOSAL, and do not ACK', () => {
    const h = new Harness([1, 2, 3], [4]);
    h.stable();
    const toObserver: string[] = [];
    h.onReady = (_id, rd) => {
      for (const m of rd.messages) if (m.to === 4 && m.type !== 'ping') toObserver.push(m.type);
      if (_id === 4) expect(rd.messages.filter((m) => m.type === 'ack')).toEqual([]);
    };
    h.propose('a');
    h.propose('b');
    expect(toObserver).toEqual(['inform', 'inform']);
    expect(labels(h.member(4).applied)).toEqual(['a', 'b']);
  });

  it('refuses proposals on followers and on a leader that is not yet established', () => {
    const h = new Harness([1, 2, 3]);
    const l = h.stable();
    const f = [1, 2, 3].find((x) => x !== l)!;
    expect(h.node(f).propose({ label: 'x' })).toEqual({ ok: false, reason: 'notLeader', leaderId: l });
    h.crash(f);
    h.crash([1, 2, 3].find((x) => x !== l && x !== f)!);
    h.tick(8); // the leader loses its quorum and steps down
    expect(h.node(l).propose({ label: 'y' })).toMatchObject({ ok: false, reason: 'notLeader' });
  });

  it('bounds the proposals in flight: over maxOutstandingProposals propose() is throttled', () => {
    const h = new Harness([1, 2, 3], [], { maxOutstandingProposals: 3 });
    const l = h.stable();
    const L = h.node(l);
    for (let i = 0; i < 3; i++) expect(L.propose({ label: `p${i}` }).ok).toBe(true);
    expect(L.propose({ label: 'p3' })).toEqual({ ok: false, reason: 'throttled', leaderId: l });
    h.pump(); // they commit; room again
    expect(L.propose({ label: 'p4' }).ok).toBe(true);
  });

  it('ready() twice without advance() is a loud invariant failure', () => {
    const h = new Harness([1, 2, 3]);
    const l = h.stable();
    h.node(l).propose({ label: 'x' });
    h.node(l).ready();
    expect(() => h.node(l).ready()).toThrow(/invariant/);
  });
});

describe('sessions (owned by the leader)', () => {
  it('expires a session nobody touches; a session touched through a follower lives', () => {
    const h = new Harness([1, 2, 3]);
    const l = h.stable();
    const f = [1, 2, 3].find((x) => x !== l)!;
    for (const id of [1, 2, 3]) {
      h.node(id).trackSession(10n, 6);
      h.node(id).trackSession(11n, 6);
    }
    for (let i = 0; i < 12; i++) {
      h.node(f).touchSession(11n);
      h.tick();
    }
    const expired = h
      .member(l)
      .readies.flatMap((r) => r.events)
      .filter((e) => e.type === 'sessionExpired')
      .map((e) => (e.type === 'sessionExpired' ? e.sessionId : 0n));
    expect(expired).toEqual([10n]);
    // Followers never expire sessions themselves.
    const followerExpiries = h
      .member(f)
      .readies.flatMap((r) => r.events)
      .filter((e) => e.type === 'sessionExpired');
    expect(followerExpiries).toEqual([]);
  });
});
