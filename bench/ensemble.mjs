// Ensemble benchmark (`pnpm bench:ensemble`): a 3-member ensemble of real processes
// (`startEnsemble` from the built @conclave/server, fsync ON, the members' default tickMs 2000
// unless BENCH_TICK_MS) and one @conclave/client session connected to a FOLLOWER only, keeping C
// requests in flight (C = 1, 16, 128). Workloads with 256-byte values: setData (forwarded to the
// leader, committed by a quorum) and getData (served by the follower). Per cell 1 s warm-up +
// BENCH_MEASURE_MS (default 3000) measured, after a short warm-up pass. Then failover: kill -9 of
// the leader while one writer (1 outstanding, through all members) runs → the first write issued
// after the kill that is acknowledged; BENCH_FAILOVERS repetitions (default 5), the killed member
// restarted and caught up between them. Prints a table beside ZooKeeper 3.8's 3-node numbers
// (/work/shared/PERFORMANCE.md), saves JSON under bench/results/ensemble-<timestamp>.json and
// prints the change against the previous run. BENCH_C=1,128 picks the concurrencies;
// CONCLAVE_BENCH_DIR picks the disk.
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { drive as driveLoad } from './lib/drive.mjs';
import { fmt, median, newestSavedRun, printTable, saveRun } from './lib/results.mjs';

const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 1000);
const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 3000);
const WARMUP_PASS_MS = Number(process.env.BENCH_WARMUP_PASS_MS ?? 1000);
const CONCURRENCY = (process.env.BENCH_C ?? '1,16,128').split(',').map(Number);
const FAILOVERS = Number(process.env.BENCH_FAILOVERS ?? 5);
const TICK_MS = Number(process.env.BENCH_TICK_MS ?? 2000);
const SERVER_DIST = '../packages/server/dist/index.js';
const CLIENT_DIST = '../packages/client/dist/index.js';
const VALUE = new Uint8Array(256).fill(97);

/**
 * ZooKeeper 3.8, 3 nodes, client on a follower, fsync on, same machine and workloads
 * (node-zookeeper-client, one session, C outstanding, 256-byte values), from
 * /work/shared/PERFORMANCE.md. ops/s with p50/p99 in ms.
 */
const ZOOKEEPER = {
  setData: { 1: [2229, 0.4, 1.35], 16: [7641, 1.9, 4.8], 128: [9795, 12.9, 25.8] },
  getData: { 1: [9450, 0.1, 0.24], 16: [31187, 0.46, 1.26], 128: [26858, 4.6, 9.1] },
};
/** PERFORMANCE.md's target: leader failover to the first committed write. */
const FAILOVER_TARGET_MS = 1000;

/** Keeps `concurrency` operations in flight for warm-up + measure; returns ops/s and latencies. */
async function drive(op, concurrency, measureMs = MEASURE_MS) {
  const { opsPerSec, p50Ms, p99Ms } = await driveLoad(op, concurrency, { warmupMs: WARMUP_MS, measureMs });
  return { opsPerSec, p50Ms, p99Ms };
}

/** Waits for `fn()` to be truthy, polling every 25 ms, up to `timeoutMs`. */
async function waitFor(what, fn, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Every member running serves under one leader. */
async function allServing(ens) {
  const all = await Promise.all(ens.members.map((m) => ens.status(m.id)));
  const leader = all.find((s) => s?.role === 'leading' && s.serving)?.id;
  return leader !== undefined && all.every((s) => s?.serving && s.leaderId === leader);
}

/**
 * One failover: a writer (1 outstanding, connected to every member) runs; the leader gets
 * SIGKILL; returns ms from the kill to the acknowledgement of the first write issued after it.
 */
async function failoverOnce(ens, connect, rep) {
  const leader = await ens.waitForLeader(30_000);
  const client = await connect(ens.connectString, { sessionTimeoutMs: 10_000 });
  const path = `/bench/failover-${rep}`;
  await client.create(path, VALUE);
  let killedAt = Number.POSITIVE_INFINITY;
  let firstAfterMs;
  let stop = false;
  let acked = 0;
  const writer = (async () => {
    while (!stop && firstAfterMs === undefined) {
      const calledAt = performance.now();
      try {
        await client.setData(path, VALUE);
        acked++;
        if (calledAt > killedAt) firstAfterMs = performance.now() - killedAt;
      } catch {
        // CONNECTIONLOSS / not connected while the client reconnects: try again shortly.
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  })();
  await waitFor('writes flowing', () => acked >= 20);
  killedAt = performance.now();
  const killing = ens.kill(leader);
  try {
    await waitFor('the first write after the kill', () => firstAfterMs !== undefined, 30_000);
  } finally {
    stop = true;
    await writer;
    await killing;
    await client.close().catch(() => {});
  }
  await ens.restart(leader);
  await waitFor('every member serving again', () => allServing(ens), 60_000);
  return { killedLeader: leader, ms: firstAfterMs };
}

async function main() {
  const { startEnsemble } = await import(SERVER_DIST);
  const { connect } = await import(CLIENT_DIST);
  const root = await mkdtemp(join(process.env.CONCLAVE_BENCH_DIR ?? tmpdir(), 'conclave-bench-ens-'));
  const loadBefore = loadavg()[0];
  const results = {};
  const failovers = [];
  let ens;
  try {
    ens = await startEnsemble({
      size: 3,
      dataDir: root,
      fsync: true,
      tickMs: TICK_MS,
      snapshotEveryTxns: 1_000_000,
      // Direct member links: the fault-injecting proxies would add a hop to every quorum message.
      proxies: false,
    });
    const leader = await ens.waitForLeader(30_000);
    await waitFor('every member serving', () => allServing(ens), 30_000);
    const follower = ens.members.find((m) => m.id !== leader);
    const client = await connect(`127.0.0.1:${follower.clientPort}`, { sessionTimeoutMs: 30_000 });
    await client.create('/bench');
    await client.create('/bench/node', VALUE);
    const workloads = {
      setData: () => client.setData('/bench/node', VALUE),
      getData: () => client.getData('/bench/node'),
    };
    for (const op of Object.values(workloads)) await drive(op, 16, WARMUP_PASS_MS);
    for (const [name, op] of Object.entries(workloads)) {
      for (const c of CONCURRENCY) {
        const r = await drive(op, c);
        r.loadAvg1m = loadavg()[0];
        results[`${name} C=${c}`] = r;
        process.stdout.write(
          `  ${name} C=${c} via follower ${follower.id}: ${r.opsPerSec} ops/s, p50 ${fmt(r.p50Ms, 3)} p99 ${fmt(r.p99Ms, 3)} ms\n`,
        );
      }
    }
    await client.close();
    for (let rep = 1; rep <= FAILOVERS; rep++) {
      const f = await failoverOnce(ens, connect, rep);
      failovers.push(f);
      process.stdout.write(
        `  failover ${rep}: killed leader ${f.killedLeader} → first acked write ${Math.round(f.ms)} ms\n`,
      );
    }
  } finally {
    await ens?.close();
    await rm(root, { recursive: true, force: true });
  }

  const prev = await newestSavedRun('ensemble');
  console.log(
    `\nConclave 3-member ensemble (fsync on, tickMs ${TICK_MS}) vs ZooKeeper 3.8 3-node (PERFORMANCE.md);` +
      ` one session on a follower, 256-byte values, ${MEASURE_MS} ms per cell; ${cpus().length} CPUs,` +
      ` Node ${process.version}; 1-min load average ${fmt(loadBefore)} at start, ${fmt(loadavg()[0])} at end` +
      ' (the members, the client and other processes share the CPUs)\n',
  );
  const header = [
    'workload',
    'C',
    'ops/s',
    'p50 ms',
    'p99 ms',
    'ZK ops/s',
    'ZK p50/p99',
    'vs ZK',
    'vs previous',
  ];
  const rows = [];
  for (const [key, r] of Object.entries(results)) {
    const [name, cPart] = key.split(' C=');
    const zk = ZOOKEEPER[name]?.[cPart];
    const before = prev?.data.results?.[key]?.opsPerSec;
    rows.push([
      name,
      cPart,
      String(r.opsPerSec),
      fmt(r.p50Ms, 3),
      fmt(r.p99Ms, 3),
      zk ? String(zk[0]) : '-',
      zk ? `${zk[1]}/${zk[2]}` : '-',
      zk ? `${fmt(r.opsPerSec / zk[0], 2)}x` : '-',
      before ? `${(((r.opsPerSec - before) / before) * 100).toFixed(1)}%` : '-',
    ]);
  }
  printTable(header, rows);
  const ms = failovers.map((f) => Math.round(f.ms));
  const med = median(ms);
  const prevMed = prev?.data.failover?.medianMs;
  console.log(
    `\nfailover (kill -9 leader → first acknowledged write issued after it), ${ms.length} runs: ${ms.join(', ')} ms;` +
      ` median ${med} ms (target < ${FAILOVER_TARGET_MS} ms${prevMed !== undefined ? `; previous median ${prevMed} ms` : ''})`,
  );
  if (prev) console.log(`(compared with ${prev.file})`);

  await saveRun('ensemble', {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    loadAvg1m: [loadBefore, loadavg()[0]],
    members: 3,
    tickMs: TICK_MS,
    fsync: true,
    measureMs: MEASURE_MS,
    valueBytes: VALUE.length,
    results,
    failover: { runsMs: ms, medianMs: med, killedLeaders: failovers.map((f) => f.killedLeader) },
    zookeeper: ZOOKEEPER,
  });
}

await main();
