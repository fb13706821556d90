import { describe, expect, it } from 'vitest';
import { runSimulation, shapeForSeed } from '../../src/testing/sim/index.js';

// The CI batch: ~60–120 s on two busy cores. Raise CONCLAVE_SIM_SEEDS for longer soaks
// (or run `pnpm sim --seeds 10000`). A fifth of the seeds run on the real Database (leader-side
// prep + apply), the rest on the small KV state machine (faster, richer ops such as cas).
const SEEDS = Number(process.env.CONCLAVE_SIM_SEEDS ?? '3000');
const CHUNKS = 6;
const DB_SEEDS = Math.max(1, Math.floor(SEEDS / 5));
const KV_SEEDS = SEEDS - DB_SEEDS;

describe('deterministic simulation (random faults, all safety checks)', () => {
  it('replays a seed exactly', () => {
    const a = runSimulation({ seed: 4242, nodes: 5, observers: 1, trace: true });
    const b = runSimulation({ seed: 4242, nodes: 5, observers: 1, trace: true });
    expect(a.ok).toBe(true);
    expect(b.stats).toEqual(a.stats);
    expect(b.trace).toEqual(a.trace);
  });

  for (let chunk = 0; chunk < CHUNKS; chunk++) {
    const from = 1 + Math.floor((chunk * KV_SEEDS) / CHUNKS);
    const to = Math.floor(((chunk + 1) * KV_SEEDS) / CHUNKS);
    it(`seeds ${from}..${to} keep every safety property`, { timeout: 600_000 }, () => {
      const failures: string[] = [];
      let committed = 0;
      const sessions = { ephemerals: 0, sequential: 0, closed: 0, expired: 0 };
      const log = { streamed: 0, snapshots: 0, ownRestarts: 0, broken: 0 };
      for (let seed = from; seed <= to; seed++) {
        const r = runSimulation({ seed, ...shapeForSeed(seed) });
        committed += r.stats.committed;
        sessions.ephemerals += r.stats.ephemeralsCreated;
        sessions.sequential += r.stats.sequentialCreated;
        sessions.closed += r.stats.sessionsClosed;
        sessions.expired += r.stats.sessionsExpired;
        log.streamed += r.stats.logSyncs;
        log.snapshots += r.stats.localSnapshots;
        log.ownRestarts += r.stats.restartsFromOwnSnapshot;
        log.broken += r.stats.logSyncFailures;
        if (!r.ok) failures.push(`${r.failures[0]?.split('\n')[0]}\n  repro: ${r.repro}`);
      }
      expect(failures, failures.join('\n')).toEqual([]);
      // Not vacuous: the runs commit plenty of txns and exercise the session namespace.
      expect(committed).toBeGreaterThan((to - from + 1) * 20);
      expect(sessions.ephemerals).toBeGreaterThan(to - from + 1);
      expect(sessions.sequential).toBeGreaterThan(to - from + 1);
      expect(sessions.closed).toBeGreaterThan(0);
      expect(sessions.expired).toBeGreaterThan(0);
      // The seed's log modes: DIFFs streamed from a leader's log, members' own snapshots and
      // restarts from them; a stream the log cannot produce never happens (logSyncFailures).
      expect(log.streamed).toBeGreaterThan(0);
      expect(log.snapshots).toBeGreaterThan(0);
      expect(log.ownRestarts).toBeGreaterThan(0);
      expect(log.broken).toBe(0);
    });
  }

  for (let chunk = 0; chunk < 2; chunk++) {
    const from = 100_001 + Math.floor((chunk * DB_SEEDS) / 2);
    const to = 100_000 + Math.floor(((chunk + 1) * DB_SEEDS) / 2);
    it(
      `Database state machine: seeds ${from}..${to} keep every safety property`,
      { timeout: 600_000 },
      () => {
        const failures: string[] = [];
        const log = { streamed: 0, snapshots: 0, broken: 0 };
        for (let seed = from; seed <= to; seed++) {
          const r = runSimulation({ seed, ...shapeForSeed(seed), stateMachine: 'database' });
          if (!r.ok) failures.push(`${r.failures[0]?.split('\n')[0]}\n  repro: ${r.repro}`);
          log.streamed += r.stats.logSyncs;
          log.snapshots += r.stats.localSnapshots;
          log.broken += r.stats.logSyncFailures;
        }
        expect(failures, failures.join('\n')).toEqual([]);
        expect(log.streamed).toBeGreaterThan(0);
        expect(log.snapshots).toBeGreaterThan(0);
        expect(log.broken).toBe(0);
      },
    );
  }
});
