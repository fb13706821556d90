import { describe, expect, it } from 'vitest';
import { runSimulation, Simulation, shapeForSeed } from '../../src/testing/sim/index.js';
import type { ZabFault } from '../../src/zab/index.js';

/** Failures the end-to-end checks report (as opposed to the node's own invariant guards). */
const END_TO_END = /divergence|committed txn .* lost|not linearizable|plain read|different digests/;

function firstCaught(fault: ZabFault, maxSeeds: number): { seed: number; failure: string } | undefined {
  for (let seed = 1; seed <= maxSeeds; seed++) {
    const r = runSimulation({ seed, ...shapeForSeed(seed), faults: [fault] });
    const hit = r.failures.find((f) => END_TO_END.test(f));
    if (hit !== undefined) return { seed, failure: hit };
  }
  return undefined;
}

describe('the checks bite: deliberately broken ZAB variants are caught', () => {
  it.each([
    ['commitWithoutQuorum', 'commit before a quorum ACKs'],
    ['skipTrunc', 'skip the TRUNC step'],
    ['applyOnProposal', 'apply on proposal instead of COMMIT'],
  ] as const)('%s (%s) is caught within 30 seeds', { timeout: 120_000 }, (fault, _what) => {
    const caught = firstCaught(fault, 30);
    expect(caught, `${fault} was never caught`).toBeDefined();
  });

  it('syncWithoutQuorumCheck (ZOOKEEPER-1675-like) is caught by the linearizability checker', () => {
    const verdict = (faults: ZabFault[]) => {
      // A leader that notices quorum loss slowly makes the stale window wide.
      const sim = new Simulation({
        seed: 7,
        nodes: 3,
        clients: 0,
        chaos: false,
        faults,
        timing: { quorumLossTicks: 40 },
      });
      sim.runUntil(() => sim.converged(), 2000);
      const old = sim.leader()!.id;
      const w1 = sim.invokeWrite(old, { op: 'create', path: '/x', data: 'v1' });
      sim.runUntil(() => w1.done, 500);
      sim.network.isolate([old], sim.ids);
      const newLeader = () => sim.servingLeaders().find((m) => m.id !== old);
      sim.runUntil(() => newLeader() !== undefined, 3000);
      const fresh = newLeader()!.id;
      const w2 = sim.invokeWrite(fresh, { op: 'set', path: '/x', data: 'v2', version: -1 });
      sim.runUntil(() => w2.done, 500);
      expect(w2.reply?.ok).toBe(true);
      // The deposed leader still believes it leads: a sync+read there must not return v1.
      const r = sim.invokeSyncRead(old, '/x');
      sim.runFor(100);
      sim.checkFinal();
      return { read: r, result: sim.result() };
    };
    const broken = verdict(['syncWithoutQuorumCheck']);
    expect(broken.read.reply).toMatchObject({ ok: true, result: { data: 'v1' } });
    expect(broken.result.stats.linearizability).toBe('violation');
    const correct = verdict([]);
    expect(correct.read.reply?.ok ?? false).toBe(false);
    expect(correct.result.stats.linearizability).toBe('ok');
  });

  it('a shell that sends ACKs before fsync (ZOOKEEPER-3911 class) loses an acknowledged write', () => {
    const scenario = (shellFaults: Array<'sendBeforeFsync'>) => {
      const sim = new Simulation({ seed: 3, nodes: 3, clients: 0, chaos: false, shellFaults });
      sim.runUntil(() => sim.converged(), 2000);
      const leader = sim.leader()!.id;
      const followers = sim.ids.filter((i) => i !== leader);
      // Followers' disks are slow: their appends sit un-fsynced for a long time.
      for (const f of followers) sim.member(f).disk.slowFactor = 50;
      const w = sim.invokeWrite(leader, { op: 'create', path: '/acked', data: 'x' });
      sim.runUntil(() => w.done, 40);
      // Power fails on the followers (their staged tails are lost) and the leader is gone for good
      // while they elect a new leader between themselves.
      for (const f of followers) sim.crash(f, true);
      sim.crash(leader);
      for (const f of followers) {
        sim.member(f).disk.slowFactor = 1;
        sim.restart(f);
      }
      sim.runUntil(() => sim.leader() !== undefined, 3000);
      sim.restart(leader);
      sim.runUntil(() => sim.converged(), 4000);
      sim.checkFinal();
      return { acked: w.reply?.ok === true, result: sim.result() };
    };
    const broken = scenario(['sendBeforeFsync']);
    expect(broken.acked).toBe(true);
    expect(broken.result.failures.join('\n')).toMatch(/committed txn .* lost/);
    const correct = scenario([]);
    expect(correct.acked).toBe(false); // the ACKs wait for the fsync: nothing was acknowledged
    expect(correct.result.failures).toEqual([]);
  });

  it.each([
    ['fromLogOffByOne', 'a log range read one entry low'],
    ['fromLogSkipEntry', 'a log stream that skips an entry'],
  ] as const)(
    'a leader shell streaming DIFFs from its log wrongly (%s: %s) is caught',
    { timeout: 120_000 },
    (fault, _what) => {
      let caught: string | undefined;
      // Every seed streams from the log (and snapshots, so restarts recover from their own ones).
      const log = { serveFromLog: true, snapshotEvery: 10, keepBelowSnapshot: 1000 };
      for (let seed = 1; seed <= 60 && caught === undefined; seed++) {
        const r = runSimulation({ seed, ...shapeForSeed(seed), shellFaults: [fault], log });
        caught = r.failures.find((f) =>
          /invariant|divergence|committed txn .* lost|not linearizable/.test(f),
        );
      }
      expect(caught, `${fault} was never caught`).toBeDefined();
    },
  );

  it('a leader shell that skips the session check (ZooKeeper’s checkSession) leaves orphan ephemerals', () => {
    let caught: string | undefined;
    for (let seed = 100_001; seed <= 100_030 && caught === undefined; seed++) {
      const r = runSimulation({
        seed,
        ...shapeForSeed(seed),
        stateMachine: 'database',
        shellFaults: ['skipSessionCheck'],
      });
      caught = r.failures.find((f) => /outlives its (closed )?session/.test(f));
    }
    expect(caught, 'an ephemeral born to a closed session was never caught').toBeDefined();
  });
});
