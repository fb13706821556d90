// ZAB protocol benchmark (`pnpm bench:zab`): proposals committed per second through the pure
// ZabNode state machine for 3 and 5 voters, with an in-memory network that delivers instantly
// and "disks" that persist instantly (no fsync, no serialization). This is the protocol's own CPU
// cost per txn — election excluded — i.e. the ceiling the real shell can approach.
// Every member applies every txn (the run checks it). Saves JSON under bench/results/.
import { cpus } from 'node:os';
import { SeededPrng, ZabNode } from '../packages/server/dist/index.js';
import { saveRun } from './lib/results.mjs';

const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 500);
const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 3000);
/** Proposals handed to the leader between two rounds of the Ready loop (pipelining depth). */
const BATCH = [1, 16, 128];
const TIMING = { electionTimeoutTicks: 5, initLimitTicks: 10, syncLimitTicks: 5, heartbeatTicks: 1 };

function makeCluster(n) {
  const voters = Array.from({ length: n }, (_, i) => i + 1);
  const prng = new SeededPrng(42);
  const nodes = new Map();
  const applied = new Map();
  for (const id of voters) {
    nodes.set(
      id,
      new ZabNode({
        id,
        voters,
        prng: prng.fork(),
        timing: TIMING,
        persisted: { acceptedEpoch: 0, currentEpoch: 0, snapshotZxid: 0n, entries: [] },
        maxCommittedLogEntries: 1000,
      }),
    );
    applied.set(id, 0);
  }
  let inbox = [];
  /** One pass of the shell loop on every node, then deliver everything sent. */
  function pump() {
    let moved = true;
    while (moved) {
      moved = false;
      for (const [id, node] of nodes) {
        if (!node.hasReady()) continue;
        moved = true;
        const rd = node.ready();
        applied.set(id, applied.get(id) + rd.toApply.length);
        for (const m of rd.messages) inbox.push(m);
        node.advance();
      }
      const batch = inbox;
      inbox = [];
      for (const m of batch) {
        moved = true;
        nodes.get(m.to).step(m);
      }
    }
  }
  pump();
  let leader;
  for (let i = 0; i < 200 && leader === undefined; i++) {
    for (const node of nodes.values()) node.tick();
    pump();
    leader = [...nodes.values()].find((x) => x.role === 'leading' && x.serving);
  }
  if (leader === undefined) throw new Error('no leader elected');
  return { nodes, leader, applied, pump };
}

function run(n, batch, ms) {
  const c = makeCluster(n);
  const body = {
    sessionId: 1n,
    cxid: 0,
    time: 0,
    txn: { type: 'setData', path: '/bench', data: new Uint8Array(256), version: 1 },
  };
  const start = c.applied.get(c.leader.id);
  const t0 = performance.now();
  let proposed = 0;
  let ticks = 0;
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < batch; i++) {
      const r = c.leader.propose(body);
      if (!r.ok) throw new Error(`propose refused: ${r.reason}`);
      proposed++;
    }
    c.pump();
    // A tick every ~1000 proposals keeps heartbeats and timers realistic without dominating.
    if (proposed / 1000 > ticks) {
      ticks++;
      for (const node of c.nodes.values()) node.tick();
      c.pump();
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const committed = c.applied.get(c.leader.id) - start;
  for (const [id, count] of c.applied) {
    if (count - start !== committed)
      throw new Error(`member ${id} applied ${count - start}, leader ${committed}`);
  }
  return {
    nodes: n,
    batch,
    committed,
    seconds: Number(seconds.toFixed(3)),
    commitsPerSec: Math.round(committed / seconds),
  };
}

const results = [];
for (const n of [3, 5]) {
  for (const batch of BATCH) {
    run(n, batch, WARMUP_MS);
    const r = run(n, batch, MEASURE_MS);
    results.push(r);
    console.log(
      `${n} voters, ${String(batch).padStart(3)} proposals per loop: ${r.commitsPerSec.toLocaleString('en-US')} commits/s`,
    );
  }
}
const out = {
  bench: 'zab',
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  measureMs: MEASURE_MS,
  note: 'pure ZabNode, in-memory network and disks, no fsync, every member applies every txn',
  results,
};
await saveRun('zab', out);
