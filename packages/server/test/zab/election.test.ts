import { describe, expect, it } from 'vitest';
import { voteIsBetter } from '../../src/zab/index.js';
import { Harness } from './harness.js';

describe('fast leader election', () => {
  it('orders votes by (peerEpoch, zxid, sid)', () => {
    expect(voteIsBetter({ leader: 1, zxid: 0n, peerEpoch: 2 }, { leader: 3, zxid: 99n, peerEpoch: 1 })).toBe(
      true,
    );
    expect(voteIsBetter({ leader: 1, zxid: 5n, peerEpoch: 1 }, { leader: 3, zxid: 4n, peerEpoch: 1 })).toBe(
      true,
    );
    expect(voteIsBetter({ leader: 3, zxid: 5n, peerEpoch: 1 }, { leader: 1, zxid: 5n, peerEpoch: 1 })).toBe(
      true,
    );
    expect(voteIsBetter({ leader: 1, zxid: 5n, peerEpoch: 1 }, { leader: 3, zxid: 5n, peerEpoch: 1 })).toBe(
      false,
    );
  });

  it('a fresh 3-node ensemble elects the largest sid and everyone syncs', () => {
    const h = new Harness([1, 2, 3]);
    expect(h.stable()).toBe(3);
    expect(h.node(1).leaderId).toBe(3);
    expect(h.node(3).currentEpoch).toBe(1);
  });

  it('a single voter leads itself at once', () => {
    const h = new Harness([7]);
    h.pump();
    expect(h.node(7).role).toBe('leading');
    expect(h.node(7).serving).toBe(true);
    expect(h.propose('x')).toBe((1n << 32n) | 1n);
  });

  it('the member with the most recent history wins, whatever its sid', () => {
    const h = new Harness([1, 2, 3]);
    h.stable();
    // Node 3 leads; partition 1 away so only 2 and 3 hold the next txns.
    h.partition([1], [2, 3]);
    h.propose('a');
    h.propose('b');
    h.tick(2);
    h.heal();
    h.crash(3);
    h.until(() => h.leader() !== undefined);
    expect(h.leader()).toBe(2);
  });

  it('observers never vote or lead, and follow the elected leader', () => {
    const h = new Harness([1, 2, 3], [4]);
    const l = h.stable();
    expect(l).not.toBe(4);
    expect(h.node(4).role).toBe('observing');
    h.crash(1);
    h.crash(2);
    // With two voters down no quorum exists: the observer must not help elect anyone.
    h.tick(60);
    expect(h.leader()).toBeUndefined();
    expect(h.node(4).serving).toBe(false);
  });

  it('a restarted member joins the established leader without disturbing it', () => {
    const h = new Harness([1, 2, 3]);
    const l = h.stable();
    const epoch = h.node(l).currentEpoch;
    const follower = l === 1 ? 2 : 1;
    h.crash(follower);
    h.propose('while down');
    h.start(follower);
    h.stable();
    expect(h.leader()).toBe(l);
    expect(h.node(l).currentEpoch).toBe(epoch);
  });

  it('a leader that loses its quorum steps down after quorumLossTicks', () => {
    const h = new Harness([1, 2, 3]);
    const l = h.stable();
    const others = [1, 2, 3].filter((x) => x !== l);
    h.partition([l], others);
    h.tick(8);
    expect(h.node(l).role).toBe('looking');
    const events = h
      .member(l)
      .readies.flatMap((r) => r.events)
      .map((e) => e.type);
    expect(events).toContain('steppedDown');
    // The other two elect a new leader between themselves.
    h.until(() => h.leader() !== undefined && h.leader() !== l);
  });

  it('a learner whose chosen leader votes for another member starts over at once, not after initLimit', () => {
    // 1 hears 2 (one-way) and concludes that 2 leads; 2 hears nobody, so it keeps looking. Then 2
    // hears 3 and switches its vote to 3: it will not lead this round, and 1 must not wait
    // initLimit for a leader that never comes (seen on real ensembles as a member joining 10 s late).
    const h = new Harness([1, 2, 3]);
    const linkUp = new Set(['2>1']);
    h.filter = (m) => linkUp.has(`${m.from}>${m.to}`);
    h.until(() => h.node(1).role === 'following', 20);
    expect(h.node(1).leaderId).toBe(2);
    expect(h.node(2).role).toBe('looking');
    linkUp.add('3>2').add('2>3');
    const toldOneAbout3 = () =>
      h
        .member(2)
        .readies.some((rd) =>
          rd.messages.some((m) => m.type === 'notification' && m.to === 1 && m.vote.leader === 3),
        );
    h.until(toldOneAbout3, 20);
    h.tick(1);
    expect(h.node(1).role).toBe('looking');
    // Once every link is up, the ensemble settles on 3 well within initLimit.
    h.heal();
    h.until(() => h.stable(40) === 3, 1);
  });
});
