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
  // Per-run counters summed over the batch; `unknown` counts runs whose linearizability check
  // ran out of budget. The key order is the printed JSON's.
  const keys = [
    'snapSyncs',
    'truncSyncs',
    'diffSyncs',
    'leaderChanges',
    'crashes',
    'unknown',
    'syncReads',
    'ephemeralsCreated',
    'sequentialCreated',
    'sessionsClosed',
    'sessionsExpired',
    'containersCreated',
    'containersReaped',
    'logSyncs',
    'logSyncEntries',
    'logSyncFailures',
    'localSnapshots',
    'restartsFromOwnSnapshot',
  ] as const;
  const totals = Object.fromEntries(keys.map((k) => [k, 0])) as Record<(typeof keys)[number], number>;
  for (let seed = from; seed < from + count; seed++) {
    const r = runSimulation({ seed, ...shape(seed), faults: bugs, shellFaults, timing, stateMachine });
    committed += r.stats.committed;
    for (const k of keys) if (k !== 'unknown') totals[k] += r.stats[k];
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
