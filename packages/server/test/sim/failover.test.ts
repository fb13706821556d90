import { describe, expect, it } from 'vitest';
import { SIM_TIMING, Simulation } from '../../src/testing/sim/index.js';

/** Nominal time units per tick in the simulator (each member's period is skewed around it). */
const TICK_UNITS = 10;
const SEEDS = Number(process.env.CONCLAVE_FAILOVER_SEEDS ?? '200');

/**
 * Failover time after a leader crash with two voters left, over many seeds (members' ticks are
 * skewed and links have random delays, so the survivors conclude the election at different
 * moments). Neither order may cost an initLimit: the new leader must serve with the survivor
 * synced about syncLimit (detection) + two election rounds after the crash.
 */
describe('simulator: failover time after a leader crash', () => {
  it('3 voters, leader killed: a new serving leader with its follower synced well before initLimit', () => {
    // Detection (syncLimit) + initLimit: the deadlocked mode waited for initLimit on top of it.
    const bound = (SIM_TIMING.syncLimitTicks + SIM_TIMING.initLimitTicks) * TICK_UNITS;
    const times: number[] = [];
    for (let seed = 1; seed <= SEEDS; seed++) {
      const sim = new Simulation({ seed, nodes: 3, observers: 0, clients: 0, chaos: false });
      expect(sim.runUntil(() => sim.converged(), 2000)).toBe(true);
      const old = sim.leader()!.id;
      const crashedAt = sim.queue.now;
      sim.crash(old);
      const survivors = sim.ids.filter((i) => i !== old);
      const settled = () => {
        const l = sim.leader();
        return l !== undefined && survivors.every((i) => sim.member(i).serving);
      };
      expect(sim.runUntil(settled, 3000)).toBe(true);
      times.push(sim.queue.now - crashedAt);
      expect(sim.result().failures).toEqual([]);
    }
    times.sort((a, b) => a - b);
    const worst = times[times.length - 1]!;
    console.log(
      `failover (time units, ${TICK_UNITS}/tick): median ${times[times.length >> 1]}, p90 ${times[Math.floor(times.length * 0.9)]}, worst ${worst}, bound ${bound}`,
    );
    expect(worst).toBeLessThanOrEqual(bound);
  });
});
