// Client/server benchmark (`pnpm bench`): one @conclave/client session keeping C requests in flight
// (C = 1, 16, 128) against a standalone `startServer` with fsync ON, running in its own process
// (as ZooKeeper did in the reference runs). Workloads with 256-byte values: create, setData,
// getData, and ephemeral-sequential create+delete pairs. 1 s warm-up + BENCH_MEASURE_MS (default
// 4000) measured per cell. Prints ops/s and p50/p99 beside ZooKeeper 3.8's numbers, and fsyncs
// per write from the server's mntr; saves JSON under bench/results/ and prints the change against
// the previous run. BENCH_ONLY=<workload prefix> runs one workload; CONCLAVE_BENCH_DIR picks the disk.
import { fork } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 1000);
const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 4000);
const CONCURRENCY = [1, 16, 128];
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

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Keeps `concurrency` operations in flight for warm-up + measure; returns ops/s and latencies. */
async function drive(op, concurrency) {
  const latencies = [];
  let measuring = false;
  let stop = false;
  let done = 0;
  let seq = 0;
  const worker = async () => {
    while (!stop) {
      const i = seq++;
      const t0 = performance.now();
      await op(i);
      if (measuring && !stop) {
        latencies.push(performance.now() - t0);
        done++;
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  measuring = true;
  const start = performance.now();
  await new Promise((r) => setTimeout(r, MEASURE_MS));
  const elapsed = performance.now() - start;
  stop = true;
  await Promise.all(workers);
  latencies.sort((a, b) => a - b);
  return {
    opsPerSec: Math.round((done / elapsed) * 1000),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

async function mntr(adminUrl) {
  const text = await fetch(`${adminUrl}/mntr`).then((r) => r.text());
  const get = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { fsyncs: get('zk_fsync_count'), appends: get('zk_log_appends') };
}

async function previousResults() {
  const dir = join(here, 'results');
  const files = (await readdir(dir).catch(() => [])).filter((f) => /^client-.*\.json$/.test(f)).sort();
  const last = files[files.length - 1];
  return last ? { file: last, data: JSON.parse(await readFile(join(dir, last), 'utf8')) } : undefined;
}

const fmt = (n, d = 2) => (typeof n === 'number' ? n.toFixed(d) : '-');

async function main() {
  const { connect } = await import('../packages/client/dist/index.js');
  const dataDir = await mkdtemp(join(process.env.CONCLAVE_BENCH_DIR ?? tmpdir(), 'conclave-bench-'));
  const child = fork(fileURLToPath(import.meta.url), ['--server', dataDir], { stdio: 'inherit' });
  const { connectString, adminUrl } = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
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
    const only = process.env.BENCH_ONLY; // e.g. BENCH_ONLY=setData to run one workload
    for (const [name, make] of Object.entries(workloads)) {
      if (only !== undefined && !name.startsWith(only)) continue;
      for (const c of CONCURRENCY) {
        const before = await mntr(adminUrl);
        const r = await drive(make(`r${round++}`), c);
        const after = await mntr(adminUrl);
        const appends = after.appends - before.appends;
        r.fsyncsPerWrite = appends > 0 ? (after.fsyncs - before.fsyncs) / appends : undefined;
        results[`${name} C=${c}`] = r;
        process.stdout.write(`  ${name} C=${c}: ${r.opsPerSec} ops/s\n`);
      }
    }
    await client.close();
  } finally {
    child.send('stop');
    await new Promise((r) => child.once('exit', r));
    await rm(dataDir, { recursive: true, force: true });
  }

  const previous = await previousResults();
  console.log(
    `\nConclave standalone (fsync on) vs ZooKeeper 3.8 standalone (PERFORMANCE.md); one session, 256-byte values,` +
      ` ${MEASURE_MS} ms per cell; ${cpus().length} CPUs, Node ${process.version}\n`,
  );
  const header = [
    'workload',
    'C',
    'ops/s',
    'p50 ms',
    'p99 ms',
    'fsyncs/write',
    'ZK ops/s',
    'ZK p50/p99',
    'vs ZK',
    'vs previous',
  ];
  const rows = [];
  for (const [key, r] of Object.entries(results)) {
    const [name, cPart] = key.split(' C=');
    const zk = ZOOKEEPER[name]?.[cPart];
    const before = previous?.data.results?.[key]?.opsPerSec;
    rows.push([
      name,
      cPart,
      String(r.opsPerSec),
      fmt(r.p50Ms, 3),
      fmt(r.p99Ms, 3),
      r.fsyncsPerWrite === undefined ? '-' : fmt(r.fsyncsPerWrite, 3),
      zk ? String(zk[0]) : '-',
      zk && zk.length > 1 ? `${zk[1]}/${zk[2]}` : '-',
      zk ? `${fmt(r.opsPerSec / zk[0], 2)}x` : '-',
      before ? `${(((r.opsPerSec - before) / before) * 100).toFixed(1)}%` : '-',
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  if (previous) console.log(`\n(compared with ${previous.file})`);

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out = join(here, 'results', `client-${stamp}.json`);
  await writeFile(
    out,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: cpus().length, measureMs: MEASURE_MS, valueBytes: VALUE.length, results, zookeeper: ZOOKEEPER }, null, 2)}\n`,
  );
  console.log(`saved ${out}`);
}

// ---------------------------------------------------------------- server child process

if (process.argv[2] === '--server') {
  const { startServer } = await import('../packages/server/dist/index.js');
  const server = await startServer({ dataDir: process.argv[3], fsync: true, snapshotEveryTxns: 1_000_000 });
  process.send({ connectString: server.connectString, adminUrl: server.adminUrl });
  process.on('message', async (m) => {
    if (m === 'stop') {
      await server.close();
      process.exit(0);
    }
  });
} else {
  await main();
}
