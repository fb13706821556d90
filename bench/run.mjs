// Client/server benchmark (`pnpm bench`): one @conclave/client session keeping C requests in flight
// (C = 1, 16, 128) against a standalone `startServer` with fsync ON, running in its own process
// (as ZooKeeper did in the reference runs). Workloads with 256-byte values: create, setData,
// getData, and ephemeral-sequential create+delete pairs. A warm-up pass (each workload for
// BENCH_WARMUP_PASS_MS, default 1000, at C=16), then per cell 1 s warm-up + BENCH_MEASURE_MS
// (default 4000) measured. Prints ops/s and p50/p99 beside ZooKeeper 3.8's numbers, and fsyncs
// per write from the server's mntr, and CPU milliseconds per 1,000 ops of the server process and
// of the load generator (client library included) — wall-clock rates swing with machine load, CPU
// per op much less. Saves JSON under bench/results/ and prints the change against the previous run.
// BENCH_ONLY=<workload prefix> runs one workload (comma-separated for several); BENCH_C=1,128 picks
// the concurrencies; CONCLAVE_BENCH_DIR picks the disk; BENCH_PROF=server writes
// V8 CPU profiles (--cpu-prof) of the server child to bench/results/prof/ (run the load generator
// itself under `node --cpu-prof` for its side; BENCH_PROF_KIND=heap samples allocations instead).
// A/B runs: BENCH_SERVER_DIST / BENCH_CLIENT_DIST point at another build's index.js (e.g. of the
// last commit); such runs are not saved.
import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { drive as driveLoad } from './lib/drive.mjs';
import { allSavedRuns, fmt, printTable, saveRun } from './lib/results.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 1000);
const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 4000);
const WARMUP_PASS_MS = Number(process.env.BENCH_WARMUP_PASS_MS ?? 1000);
const CONCURRENCY = (process.env.BENCH_C ?? '1,16,128').split(',').map(Number);
const PROF = process.env.BENCH_PROF ?? '';
const PROF_DIR = join(here, 'results', 'prof');
const SERVER_DIST = process.env.BENCH_SERVER_DIST ?? '../packages/server/dist/index.js';
const CLIENT_DIST = process.env.BENCH_CLIENT_DIST ?? '../packages/client/dist/index.js';
const SAVE = process.env.BENCH_SERVER_DIST === undefined && process.env.BENCH_CLIENT_DIST === undefined;
const VALUE = new Uint8Array(256).fill(97);

/**
 * ZooKeeper 3.8 standalone, fsync on, same machine and workloads (node-zookeeper-client, one
 * session, C outstanding, 256-byte values), from /work/shared/PERFORMANCE.md ("Performance targets
 * and the peer we measure against"). ops/s with p50/p99 in ms; the pairs row has no latencies.
 */
const ZOOKEEPER = {
  create: { 1: [3878, 0.21, 1.17], 16: [17075, 0.8, 2.56], 128: [19559, 6.0, 14.2] },
  setData: { 1: [3865, 0.21, 1.16], 16: [16255, 0.79, 3.8], 128: [18861, 6.5, 16.3] },
  getData: { 1: [9462, 0.1, 0.24], 16: [31982, 0.47, 1.2], 128: [31723, 4.0, 7.3] },
  'ephemeral-sequential create+delete': { 1: [1924], 16: [9558], 128: [13176] },
};

// ---------------------------------------------------------------- load generator

/** Keeps `concurrency` operations in flight for warm-up + measure; returns ops/s and latencies. */
async function drive(op, concurrency, serverCpu, measureMs = MEASURE_MS) {
  const r = await driveLoad(op, concurrency, { warmupMs: WARMUP_MS, measureMs, aroundMeasure: serverCpu });
  const { measured, cpu: clientCpu } = r;
  const [serverBefore, serverAfter] = r.marks;
  // CPU ms per 1,000 ops (user + system). The server's window also covers the IPC round trips
  // that read it; at thousands of ops per cell that is noise.
  const serverUs = serverAfter.user + serverAfter.system - serverBefore.user - serverBefore.system;
  return {
    opsPerSec: r.opsPerSec,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    serverCpuMsPer1k: measured > 0 ? serverUs / measured : undefined,
    clientCpuMsPer1k: measured > 0 ? (clientCpu.user + clientCpu.system) / measured : undefined,
    serverSysMsPer1k: measured > 0 ? (serverAfter.system - serverBefore.system) / measured : undefined,
    clientSysMsPer1k: measured > 0 ? clientCpu.system / measured : undefined,
  };
}

async function mntr(adminUrl) {
  const text = await fetch(`${adminUrl}/mntr`).then((r) => r.text());
  const get = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { fsyncs: get('zk_fsync_count'), appends: get('zk_log_appends') };
}

async function main() {
  const { connect } = await import(CLIENT_DIST);
  const dataDir = await mkdtemp(join(process.env.CONCLAVE_BENCH_DIR ?? tmpdir(), 'conclave-bench-'));
  // BENCH_PROF_KIND=heap samples allocations (--heap-prof) instead of CPU.
  const kind = process.env.BENCH_PROF_KIND === 'heap' ? 'heap' : 'cpu';
  const profArgs = (who) =>
    PROF === who
      ? [
          `--${kind}-prof`,
          `--${kind}-prof-dir=${PROF_DIR}`,
          `--${kind}-prof-name=${who}-${Date.now()}.${kind}profile`,
        ]
      : [];
  const child = fork(fileURLToPath(import.meta.url), ['--server', dataDir], {
    stdio: 'inherit',
    // BENCH_SERVER_FLAGS: extra node flags for the server process (e.g. --max-semi-space-size=32).
    execArgv: [
      ...process.execArgv,
      ...profArgs('server'),
      ...(process.env.BENCH_SERVER_FLAGS ?? '').split(' ').filter(Boolean),
    ],
  });
  const { connectString, adminUrl } = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  // The server process's cumulative CPU time (µs), asked for over the IPC channel.
  const serverCpu = () =>
    new Promise((resolve) => {
      child.once('message', resolve);
      child.send('cpu');
    });
  const loadBefore = loadavg()[0];
  const results = {};
  try {
    const client = await connect(connectString, { sessionTimeoutMs: 30_000 });
    await client.create('/bench');
    await client.create('/bench/create');
    await client.create('/bench/eph');
    await client.create('/bench/node', VALUE);
    let round = 0;
    const workloads = {
      create: (prefix) => (i) => client.create(`/bench/create/${prefix}-${i}`, VALUE),
      setData: () => () => client.setData('/bench/node', VALUE),
      getData: () => () => client.getData('/bench/node'),
      'ephemeral-sequential create+delete': () => async () => {
        const path = await client.create('/bench/eph/e-', VALUE, { mode: 'EPHEMERAL_SEQUENTIAL' });
        await client.delete(path);
      },
    };
    const only = process.env.BENCH_ONLY?.split(','); // e.g. BENCH_ONLY=setData to run one workload
    const selected = Object.entries(workloads).filter(
      ([name]) => only === undefined || only.some((o) => name.startsWith(o)),
    );
    // A warm-up pass, as the JVM got before ZooKeeper's reference runs: each workload briefly at
    // C=16 so the first measured cell does not pay for JIT compilation.
    for (const [, make] of selected) await drive(make(`w${round++}`), 16, serverCpu, WARMUP_PASS_MS);
    for (const [name, make] of selected) {
      for (const c of CONCURRENCY) {
        const before = await mntr(adminUrl);
        const r = await drive(make(`r${round++}`), c, serverCpu);
        const after = await mntr(adminUrl);
        const appends = after.appends - before.appends;
        r.fsyncsPerWrite = appends > 0 ? (after.fsyncs - before.fsyncs) / appends : undefined;
        results[`${name} C=${c}`] = r;
        r.loadAvg1m = loadavg()[0];
        process.stdout.write(
          `  ${name} C=${c}: ${r.opsPerSec} ops/s, CPU ms/1k ops server ${fmt(r.serverCpuMsPer1k)} client ${fmt(r.clientCpuMsPer1k)} (sys: ${fmt(r.serverSysMsPer1k)}, ${fmt(r.clientSysMsPer1k)}), load ${fmt(r.loadAvg1m)}\n`,
        );
      }
    }
    await client.close();
  } finally {
    child.send('stop');
    await new Promise((r) => child.once('exit', r));
    await rm(dataDir, { recursive: true, force: true });
  }

  // Earlier runs, newest first (a cell is compared with the newest run that measured it).
  const previous = await allSavedRuns('client');
  const compared = new Set();
  console.log(
    `\nConclave standalone (fsync on) vs ZooKeeper 3.8 standalone (PERFORMANCE.md); one session, 256-byte values,` +
      ` ${MEASURE_MS} ms per cell; ${cpus().length} CPUs, Node ${process.version};` +
      ` 1-min load average ${fmt(loadBefore)} at start, ${fmt(loadavg()[0])} at end (other processes share the CPUs)\n`,
  );
  const header = [
    'workload',
    'C',
    'ops/s',
    'p50 ms',
    'p99 ms',
    'fsyncs/write',
    'srv CPU ms/1k',
    'cli CPU ms/1k',
    'ZK ops/s',
    'ZK p50/p99',
    'vs ZK',
    'vs previous',
    'CPU/op vs prev',
  ];
  const rows = [];
  for (const [key, r] of Object.entries(results)) {
    const [name, cPart] = key.split(' C=');
    const zk = ZOOKEEPER[name]?.[cPart];
    const run = previous.find((p) => p.data.results?.[key] !== undefined);
    if (run) compared.add(run.file);
    const prev = run?.data.results[key];
    const before = prev?.opsPerSec;
    const cpuNow = (r.serverCpuMsPer1k ?? 0) + (r.clientCpuMsPer1k ?? 0);
    const cpuBefore = (prev?.serverCpuMsPer1k ?? 0) + (prev?.clientCpuMsPer1k ?? 0);
    rows.push([
      name,
      cPart,
      String(r.opsPerSec),
      fmt(r.p50Ms, 3),
      fmt(r.p99Ms, 3),
      r.fsyncsPerWrite === undefined ? '-' : fmt(r.fsyncsPerWrite, 3),
      fmt(r.serverCpuMsPer1k),
      fmt(r.clientCpuMsPer1k),
      zk ? String(zk[0]) : '-',
      zk && zk.length > 1 ? `${zk[1]}/${zk[2]}` : '-',
      zk ? `${fmt(r.opsPerSec / zk[0], 2)}x` : '-',
      before ? `${(((r.opsPerSec - before) / before) * 100).toFixed(1)}%` : '-',
      cpuBefore > 0 ? `${(((cpuNow - cpuBefore) / cpuBefore) * 100).toFixed(1)}%` : '-',
    ]);
  }
  printTable(header, rows);
  if (compared.size > 0)
    console.log(`\n(compared with ${[...compared].join(', ')}; CPU/op = server + client CPU per op)`);

  if (!SAVE) return;
  await saveRun('client', {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    loadAvg1m: [loadBefore, loadavg()[0]],
    measureMs: MEASURE_MS,
    valueBytes: VALUE.length,
    results,
    zookeeper: ZOOKEEPER,
  });
}

// ---------------------------------------------------------------- server child process

if (process.argv[2] === '--server') {
  const { startServer } = await import(SERVER_DIST);
  const server = await startServer({ dataDir: process.argv[3], fsync: true, snapshotEveryTxns: 1_000_000 });
  process.send({ connectString: server.connectString, adminUrl: server.adminUrl });
  process.on('message', async (m) => {
    if (m === 'cpu') process.send(process.cpuUsage());
    if (m === 'stop') {
      await server.close();
      process.exit(0);
    }
  });
} else {
  await main();
}
