import { describe, expect, it } from 'vitest';
import type { ZabMessage } from '../../src/zab/index.js';
import { Harness, type TestEntry } from './harness.js';

// Findings of a protocol review of node.ts against Zab 1.0 as ZooKeeper implements it. Each test
// failed before its fix.

describe('review findings', () => {
  it('a NEWLEADER ACK delivered twice does not send a second UPTODATE (the follower keeps its leader)', () => {
    const h = new Harness([1, 2, 3]);
    const acks: ZabMessage<TestEntry>[] = [];
    h.onReady = (_id, rd) => {
      for (const m of rd.messages) if (m.type === 'ackNewLeader') acks.push({ ...m });
    };
    const l = h.stable();
    const f = [1, 2, 3].find((x) => x !== l)!;
    const dup = acks.find((m) => m.from === f && m.to === l);
    expect(dup).toBeDefined();
    // A retransmission (or a duplicating network) hands the leader the same ACK again.
    h.node(l).step(dup!);
    h.pump();
    h.tick(3);
    const abandoned = h
      .member(f)
      .readies.flatMap((r) => r.events)
      .filter((e) => e.type === 'abandonedLeader');
    expect(abandoned).toEqual([]);
    expect(h.node(f).serving).toBe(true);
    expect(h.node(f).leaderId).toBe(l);
  });

  it('an expired session whose closeSession never commits is reported again after another timeout', () => {
    // The shell may fail to propose the close (throttled, leader busy): the session must not
    // live forever on this leader, or its ephemerals would outlive it.
    const h = new Harness([1, 2, 3]);
    const l = h.stable();
    for (const id of [1, 2, 3]) h.node(id).trackSession(10n, 6);
    h.tick(30);
    const expiries = h
      .member(l)
      .readies.flatMap((r) => r.events)
      .filter((e) => e.type === 'sessionExpired');
    expect(expiries.length).toBeGreaterThanOrEqual(2);
    // ...but not every tick: once per timeout while the close is outstanding.
    expect(expiries.length).toBeLessThanOrEqual(5);
    // Once the close is applied (untrackSession), it is never reported again.
    for (const id of [1, 2, 3]) h.node(id).untrackSession(10n);
    const before = expiries.length;
    h.tick(30);
    const after = h
      .member(l)
      .readies.flatMap((r) => r.events)
      .filter((e) => e.type === 'sessionExpired');
    expect(after.length).toBe(before);
  });

  it('a session expired under an earlier leadership but still touched is not re-expired when the same member leads again', () => {
    const h = new Harness([1, 2, 3]);
    const l = h.stable();
    const f = [1, 2, 3].find((x) => x !== l)!;
    for (const id of [1, 2, 3]) h.node(id).trackSession(10n, 6);
    h.tick(8); // nobody touches it: the leader reports it expired; the shell fails to close it
    const expiries = () =>
      h
        .member(l)
        .readies.flatMap((r) => r.events)
        .filter((e) => e.type === 'sessionExpired').length;
    expect(expiries()).toBe(1);
    // Everyone loses everyone, then the same member wins the election again (same history, top sid).
    h.filter = () => false;
    h.tick(8);
    h.heal();
    expect(h.stable()).toBe(l);
    const before = expiries();
    // The client is back, touching its session through a follower: the new leadership started its
    // clock afresh, so the session lives.
    for (let i = 0; i < 20; i++) {
      h.node(f).touchSession(10n);
      h.tick();
    }
    expect(expiries()).toBe(before);
  });
});
