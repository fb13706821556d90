import { describe, expect, it } from 'vitest';
import { runSimulation, Simulation } from '../../src/testing/sim/index.js';

function quietCluster(nodes: number, observers = 0, seed = 11): Simulation {
  const sim = new Simulation({ seed, nodes, observers, clients: 0, chaos: false });
  expect(sim.runUntil(() => sim.converged(), 2000)).toBe(true);
  return sim;
}

describe('simulator scenarios', () => {
  it('a crash loses only the un-fsynced tail, never an acknowledged write', () => {
    const sim = quietCluster(3);
    const leader = sim.leader()!.id;
    const followers = sim.ids.filter((i) => i !== leader);
    // Slow disks everywhere: writes sit staged (appended, not durable) for a long time.
    for (const m of sim.members) m.disk.slowFactor = 40;
    const writes = Array.from({ length: 6 }, (_, i) =>
      sim.invokeWrite(leader, { op: 'create', path: `/n${i}`, data: `${i}` }),
    );
    sim.runFor(60);
    for (const f of followers) sim.crash(f);
    sim.crash(leader);
    for (const m of sim.members) m.disk.slowFactor = 1;
    for (const id of sim.ids) sim.restart(id);
    expect(sim.runUntil(() => sim.converged(), 4000)).toBe(true);
    sim.checkFinal();
    const r = sim.result();
    expect(r.failures).toEqual([]);
    // Acknowledged writes (if any made it) are in the final state; the rest may be gone.
    const sm = sim.leader()!.sm;
    for (const [i, w] of writes.entries()) if (w.reply?.ok) expect(sm.read(`/n${i}`).err).toBe(0);
  });

  it('a one-way cut of the leader’s outbound links ends in a new leader and one history', () => {
    const sim = quietCluster(5);
    const old = sim.leader()!.id;
    const w1 = sim.invokeWrite(old, { op: 'create', path: '/a', data: '1' });
    sim.runUntil(() => w1.done, 500);
    for (const id of sim.ids) if (id !== old) sim.network.partition(old, id, true);
    expect(sim.runUntil(() => sim.servingLeaders().some((m) => m.id !== old), 3000)).toBe(true);
    const fresh = sim.servingLeaders().find((m) => m.id !== old)!.id;
    const w2 = sim.invokeWrite(fresh, { op: 'set', path: '/a', data: '2', version: -1 });
    sim.runUntil(() => w2.done, 500);
    expect(w2.reply?.ok).toBe(true);
    sim.network.heal();
    expect(sim.runUntil(() => sim.converged(), 4000)).toBe(true);
    sim.checkFinal();
    expect(sim.result().failures).toEqual([]);
    for (const m of sim.members) expect(m.sm.read('/a').data).toBe('2');
  });

  it('observers receive INFORM, never vote, and end with the same digest', () => {
    const sim = quietCluster(3, 2);
    const leader = sim.leader()!.id;
    const w = sim.invokeWrite(4, { op: 'create', path: '/via-observer', data: 'x' });
    sim.runUntil(() => w.done, 500);
    expect(w.reply?.ok).toBe(true);
    expect(sim.member(4).node!.role).toBe('observing');
    // Two voters down: no quorum, even though two observers are up.
    for (const id of sim.ids.filter((i) => i <= 3 && i !== leader).slice(0, 2)) sim.crash(id);
    sim.runFor(1000);
    expect(sim.servingLeaders()).toEqual([]);
    for (const id of sim.ids) sim.restart(id);
    expect(sim.runUntil(() => sim.converged(), 4000)).toBe(true);
    expect(new Set(sim.members.map((m) => m.sm.digest())).size).toBe(1);
  });

  it('ZOOKEEPER-1277 under chaos: a tiny zxid counter limit forces epochs and keeps every check green', () => {
    for (let seed = 1; seed <= 12; seed++) {
      const r = runSimulation({ seed, nodes: 3, maxZxidCounter: 15 });
      expect(r.failures, r.repro).toEqual([]);
      expect(r.stats.committed).toBeGreaterThan(15);
    }
  });

  it('leader-owned session expiry: silent sessions are closed by a txn everyone applies', () => {
    const sim = quietCluster(3);
    const leader = sim.leader()!.id;
    const follower = sim.ids.find((i) => i !== leader)!;
    sim.member(follower).forward({ kind: 'createSession', sessionId: 77n, timeoutTicks: 20 });
    sim.member(follower).forward({ kind: 'createSession', sessionId: 78n, timeoutTicks: 20 });
    sim.runFor(100);
    for (const m of sim.members) expect(m.sm.sessions().sort()).toEqual([77n, 78n]);
    // Session 78 keeps pinging through the follower; 77 goes silent.
    for (let i = 0; i < 60; i++) {
      sim.member(follower).touch(78n);
      sim.runFor(10);
    }
    for (const m of sim.members) expect(m.sm.sessions()).toEqual([78n]);
  });

  it('ZOOKEEPER-4643 by crash: a follower crashing while persisting its sync never has the new epoch without the history', () => {
    let crashedMidSync = 0;
    let epochLanded = 0;
    for (let seed = 1; seed <= 15; seed++) {
      const sim = quietCluster(5, 0, seed);
      const oldLeader = sim.leader()!.id;
      const f = sim.ids.find((i) => i !== oldLeader)!;
      sim.crash(f);
      for (let i = 0; i < 3; i++) sim.invokeWrite(oldLeader, { op: 'create', path: `/a${i}`, data: 'x' });
      sim.runFor(50);
      // A new leader, a new epoch: f must adopt it when it comes back.
      sim.crash(oldLeader);
      sim.runUntil(() => sim.leader() !== undefined, 3000);
      const leader = sim.leader()!.id;
      for (let i = 0; i < 3; i++) sim.invokeWrite(leader, { op: 'create', path: `/b${i}`, data: 'y' });
      sim.runFor(50);
      const m = sim.member(f);
      const epochBefore = m.disk.currentEpoch;
      m.disk.slowFactor = 30;
      sim.restart(f);
      // Crash it while the Ready that carries the new currentEpoch is staged (appended, not durable).
      const staged = () => (m as unknown as { staged: Array<{ op: string }> }).staged;
      const hit = sim.runUntil(() => staged().some((o) => o.op === 'currentEpoch'), 2000);
      if (!hit) continue;
      sim.crash(f);
      crashedMidSync++;
      if (m.disk.currentEpoch !== epochBefore) {
        // The epoch made it to disk: then so did every synced txn before it.
        epochLanded++;
        expect(m.disk.lastZxid).toBe(sim.member(leader).node!.lastZxid);
      }
      m.disk.slowFactor = 1;
      sim.restart(f);
      sim.restart(oldLeader);
      expect(sim.runUntil(() => sim.converged(), 4000)).toBe(true);
      sim.checkFinal();
      expect(sim.result().failures).toEqual([]);
    }
    expect(epochLanded).toBeGreaterThan(0);
    expect(crashedMidSync).toBeGreaterThan(5);
  });

  it.each([
    'kv',
    'database',
  ] as const)('ephemerals live exactly as long as their session: through a leader crash, then gone on expiry (%s)', (stateMachine) => {
    const sim = new Simulation({ seed: 11, nodes: 3, clients: 0, chaos: false, stateMachine });
    expect(sim.runUntil(() => sim.converged(), 2000)).toBe(true);
    const parents = ['/e', '/q'].map((path) =>
      sim.invokeWrite(sim.leader()!.id, { op: 'create', path, data: '' }),
    );
    sim.runUntil(() => parents.every((p) => p.done), 500);
    const session = 77n;
    const first = sim.leader()?.id;
    const via = sim.ids.find((i) => i !== first)!;
    sim.member(via).forward({ kind: 'createSession', sessionId: session, timeoutTicks: 40 });
    expect(sim.runUntil(() => sim.members.every((m) => m.sm.sessions().includes(session)), 500)).toBe(true);
    const eph = sim.invokeWrite(via, { op: 'screate', path: '/e/x', data: 'd', mode: 'ephemeral', session });
    const seq = sim.invokeWrite(via, {
      op: 'screate',
      path: '/q/lock-',
      data: 'd',
      mode: 'ephemeralSequential',
      session,
    });
    sim.runUntil(() => eph.done && seq.done, 500);
    expect(eph.reply).toMatchObject({ ok: true, result: { err: 0, created: ['/e/x'] } });
    expect(seq.reply).toMatchObject({ ok: true, result: { err: 0, created: ['/q/lock-0000000000'] } });
    // The client keeps its session alive through `via` while the leader crashes and another takes over.
    const touchFor = (units: number) => {
      for (let t = 0; t < units; t += 50) {
        sim.member(via).touch(session);
        sim.runFor(50);
      }
    };
    const old = sim.leader()!.id;
    sim.crash(old);
    touchFor(600);
    sim.restart(old);
    touchFor(600);
    expect(sim.runUntil(() => sim.converged(), 3000)).toBe(true);
    for (const m of sim.members) {
      expect(m.sm.ephemerals().map(([p]) => p)).toEqual(['/e/x', '/q/lock-0000000000']);
    }
    // The client goes silent: the leader expires the session and every member drops both nodes.
    expect(
      sim.runUntil(
        () => sim.converged() && sim.members.every((m) => !m.sm.sessions().includes(session)),
        2000,
      ),
    ).toBe(true);
    for (const m of sim.members) expect(m.sm.ephemerals()).toEqual([]);
    // A late create in the dead session is refused rather than orphaned.
    const late = sim.invokeWrite(via, { op: 'screate', path: '/e/y', data: 'd', mode: 'ephemeral', session });
    sim.runUntil(() => late.done, 500);
    expect(late.reply).toMatchObject({ ok: true, result: { err: -112 } });
    sim.checkFinal();
    expect(sim.result().failures).toEqual([]);
  });

  it('regression (seed 62524): a leader that restarted still reaps its emptied containers', () => {
    // The reaper's per-container back-off was kept across a restart while the node's tick count
    // started again from 0, so the restarted leader waited out the old incarnation's ticks.
    const r = runSimulation({ seed: 62524, nodes: 3 });
    expect(r.failures).toEqual([]);
    expect(r.stats.containersReaped).toBeGreaterThan(0);
  });
});
