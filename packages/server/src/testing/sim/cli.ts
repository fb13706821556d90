#!/usr/bin/env node
/**
 * `pnpm sim --seed 12345 --nodes 5 [--observers 1] [--bugs skipTrunc] [--verbose]` replays one run;
 * `pnpm sim --seeds 10000 [--from 1]` runs many (ensemble shape from the seed unless --nodes given).
 * Exit code 1 when any run fails; every failure prints a one-line repro.
 */
import type { ZabFault } from '../../zab/types.js';
import type { SimShellFault } from './member.js';
import { runSimulation, shapeForSeed } from './simulation.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

const SHELL_FAULTS = [
  'sendBeforeFsync',
  'epochBeforeLog',
  'skipSessionCheck',
  'fromLogOffByOne',
  'fromLogSkipEntry',
];
const allBugs = arg('bugs')?.split(',').filter(Boolean) ?? [];
const bugs = allBugs.filter((b) => !SHELL_FAULTS.includes(b)) as ZabFault[];
const shellFaults = allBugs.filter((b) => SHELL_FAULTS.includes(b)) as SimShellFault[];
const verbose = flag('verbose');
const stateMachine = arg('sm') === 'database' ? ('database' as const) : ('kv' as const);
const quorumLossTicks = arg('quorum-loss-ticks');
const timing = quorumLossTicks !== undefined ? { quorumLossTicks: Number(quorumLossTicks) } : {};
const nodesArg = arg('nodes');
const observersArg = arg('observers');

function shape(seed: number): { nodes: number; observers: number } {
  const s = shapeForSeed(seed);
  return {
    nodes: nodesArg !== undefined ? Number(nodesArg) : s.nodes,
    observers: observersArg !== undefined ? Number(observersArg) : nodesArg !== undefined ? 0 : s.observers,
  };
}

const single = arg('seed');
let failed = 0;
if (single !== undefined) {
  const seed = Number(single);
  const r = runSimulation({
    seed,
    ...shape(seed),
    faults: bugs,
    shellFaults,
    trace: verbose,
    timing,
    stateMachine,
  });
  if (verbose) for (const line of r.trace) console.log(line);
  console.log(
    JSON.stringify({
      ok: r.ok,
      seed,
      nodes: r.nodes,
      observers: r.observers,
      stats: r.stats,
      notes: r.notes,
    }),
  );
  for (const f of r.failures) console.log(`FAIL: ${f}`);
  if (!r.ok) {
    console.log(`repro: ${r.repro}`);
    failed++;
  }
} else {
  const count = Number(arg('seeds') ?? '100');
  const from = Number(arg('from') ?? '1');
  const started = Date.now();
  let committed = 0;
  const totals = {
    snapSyncs: 0,
    truncSyncs: 0,
    diffSyncs: 0,
    leaderChanges: 0,
    crashes: 0,
    unknown: 0,
    syncReads: 0,
    ephemeralsCreated: 0,
    sequentialCreated: 0,
    sessionsClosed: 0,
    sessionsExpired: 0,
    containersCreated: 0,
    containersReaped: 0,
    logSyncs: 0,
    logSyncEntries: 0,
    logSyncFailures: 0,
    localSnapshots: 0,
    restartsFromOwnSnapshot: 0,
  };
  for (let seed = from; seed < from + count; seed++) {
    const r = runSimulation({ seed, ...shape(seed), faults: bugs, shellFaults, timing, stateMachine });
    committed += r.stats.committed;
    totals.snapSyncs += r.stats.snapSyncs;
    totals.truncSyncs += r.stats.truncSyncs;
    totals.diffSyncs += r.stats.diffSyncs;
    totals.leaderChanges += r.stats.leaderChanges;
    totals.crashes += r.stats.crashes;
    totals.syncReads += r.stats.syncReads;
    totals.ephemeralsCreated += r.stats.ephemeralsCreated;
    totals.sequentialCreated += r.stats.sequentialCreated;
    totals.sessionsClosed += r.stats.sessionsClosed;
    totals.sessionsExpired += r.stats.sessionsExpired;
    totals.containersCreated += r.stats.containersCreated;
    totals.containersReaped += r.stats.containersReaped;
    totals.logSyncs += r.stats.logSyncs;
    totals.logSyncEntries += r.stats.logSyncEntries;
    totals.logSyncFailures += r.stats.logSyncFailures;
    totals.localSnapshots += r.stats.localSnapshots;
    totals.restartsFromOwnSnapshot += r.stats.restartsFromOwnSnapshot;
    if (r.stats.linearizability === 'unknown') totals.unknown++;
    if (!r.ok) {
      failed++;
      console.log(`FAIL seed ${seed}: ${r.failures[0]?.split('\n')[0]}`);
      console.log(`  repro: ${r.repro}`);
    }
    if ((seed - from + 1) % 100 === 0) {
      console.log(
        `${seed - from + 1}/${count} seeds, ${failed} failed, ${((Date.now() - started) / 1000).toFixed(1)}s`,
      );
    }
  }
  console.log(
    `${count} seeds, ${failed} failed, ${committed} txns committed, ${((Date.now() - started) / 1000).toFixed(1)}s`,
  );
  console.log(JSON.stringify(totals));
}
process.exitCode = failed > 0 ? 1 : 0;
