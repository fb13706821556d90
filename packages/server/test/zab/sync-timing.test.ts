import { describe, expect, it } from 'vitest';
import type { ZabMessage } from '../../src/zab/index.js';
import { Harness, TEST_TIMING, type TestEntry } from './harness.js';

/**
 * A SNAP travels as one long stream (the shell paces it by the socket), and the leader's later
 * messages to that learner — pings included — wait behind it. As in ZooKeeper (whose learner and
 * LearnerHandler read with an initLimit timeout until the sync is done, syncLimit after), neither
 * end may give up on the other after syncLimit of silence while the sync is in transit: only
 * initLimit bounds it.
 */
describe('sync timing: a SNAP in transit is bounded by initLimit, not syncLimit', () => {
  /** A follower far behind (SNAP) whose sync stream is held in transit from the SNAP on. */
  function snapInTransit() {
    const h = new Harness([1, 2, 3], [], { maxCommittedLogEntries: 2 });
    const l = h.stable();
    const f = [1, 2, 3].find((x) => x !== l)!;
    h.crash(f);
    for (let i = 0; i < 8; i++) h.propose(`x${i}`);
    const held: ZabMessage<TestEntry>[] = [];
    let snapSeen = false;
    h.filter = (m) => {
      if (m.from === l && m.to === f && (snapSeen || m.type === 'snap')) {
        snapSeen = true;
        held.push(m);
        return false;
      }
      return true;
    };
    h.start(f);
    h.until(() => snapSeen, 200);
    return { h, l, f, held };
  }

  it('both ends wait past syncLimit while the SNAP is in transit; the sync then completes', () => {
    const { h, l, f, held } = snapInTransit();
    const dropped = () =>
      h.member(l).readies.some((rd) => rd.events.some((e) => e.type === 'learnerDropped' && e.learner === f));
    const abandoned = () =>
      h.member(f).readies.some((rd) => rd.events.some((e) => e.type === 'abandonedLeader'));
    h.tick(TEST_TIMING.syncLimitTicks + 2);
    expect(dropped()).toBe(false);
    expect(abandoned()).toBe(false);
    expect(h.node(f).role).toBe('following');
    // The stream arrives (late, in order): the learner syncs through it.
    h.filter = () => true;
    for (const m of held.splice(0)) h.node(f).step(m);
    h.until(() => h.node(f).serving, 50);
    expect(h.node(f).leaderId).toBe(l);
    expect(h.member(f).applied.map((e) => e.label)).toEqual(h.member(l).applied.map((e) => e.label));
  });

  it('past initLimit they do give up', () => {
    const { h, f } = snapInTransit();
    h.tick(TEST_TIMING.initLimitTicks + 2);
    const events = h.member(f).readies.flatMap((rd) => rd.events);
    expect(events.some((e) => e.type === 'abandonedLeader')).toBe(true);
  });
});
