// Recipes benchmark (`pnpm bench:recipes`): uncontended Mutex acquire+release/s; contended
// hand-offs/s with 8 and 64 contenders (one session each, as PERFORMANCE.md's ZooKeeper baseline
// "lock hand-offs, 8 contenders in 8 sessions"); LeaderElection hand-over on close() and failover
// after kill -9 of the leader's process (bounded below by the session timeout). Server and load
// generator share this process and the machine's 2 cores. Saves JSON under bench/results/.
//   BENCH_MEASURE_MS (default 3000), BENCH_FSYNC=0 to skip fsync (default: on, as ZooKeeper's).
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect } from '../packages/client/dist/index.js';
import { LeaderElection, Mutex } from '../packages/recipes/dist/index.js';
import { startServer } from '../packages/server/dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 3000);
const WARMUP_MS = Math.min(500, MEASURE_MS / 4);
const FSYNC = process.env.BENCH_FSYNC !== '0';
const FAILOVER_SESSION_MS = 2000;
const FAILOVER_TRIALS = 3;
const HANDOVER_TRIALS = 20;
const retry = { retries: 1000, minTimeoutMs: 10, maxTimeoutMs: 200 };
const fixture = join(here, '../packages/recipes/test/fixtures/contender.mjs');

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** `contenders` sessions, each looping acquire → release on one lock path for the window. */
async function lockLoop(server, contenders, label) {
  const clients = await Promise.all(
    Array.from({ length: contenders }, () => connect(server.connectString, { retry })),
  );
  const path = `/bench/${label}`;
  let count = 0;
  let recording = false;
  const latencies = [];
  let stop = false;
  const loops = clients.map(async (client) => {
    const mutex = new Mutex(client, path);
    while (!stop) {
      const t = performance.now();
      const lock = await mutex.acquire();
      await lock.release();
      if (recording) {
        count++;
        latencies.push(performance.now() - t);
      }
    }
  });
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  recording = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, MEASURE_MS));
  recording = false;
  const elapsedMs = performance.now() - t0;
  stop = true;
  await Promise.all(loops);
  await Promise.all(clients.map((c) => c.close()));
  latencies.sort((a, b) => a - b);
  return {
    opsPerSec: Math.round((count / elapsedMs) * 1000),
    p50Ms: +percentile(latencies, 50).toFixed(2),
    p99Ms: +percentile(latencies, 99).toFixed(2),
  };
}

/** Three participants; the leader close()s; time until the next one's isLeader$ is true. */
async function handover(server) {
  const samples = [];
  for (let trial = 0; trial < HANDOVER_TRIALS; trial++) {
    const path = `/bench/handover-${trial}`;
    const clients = await Promise.all([0, 1, 2].map(() => connect(server.connectString, { retry })));
    const es = clients.map((c, i) => new LeaderElection(c, path, { id: `p${i}` }));
    for (const e of es) await e.start();
    await es[0].awaitLeadership();
    const next = es[1].awaitLeadership();
    const t = performance.now();
    await es[0].close();
    await next;
    samples.push(performance.now() - t);
    await Promise.all(es.map((e) => e.close()));
    await Promise.all(clients.map((c) => c.close()));
  }
  samples.sort((a, b) => a - b);
  return {
    p50Ms: +percentile(samples, 50).toFixed(2),
    p99Ms: +percentile(samples, 99).toFixed(2),
    trials: HANDOVER_TRIALS,
  };
}

/** The leader runs in a child process; kill -9 it and time until an observer sees a new leader. */
async function crashFailover(server) {
  const samples = [];
  for (let trial = 0; trial < FAILOVER_TRIALS; trial++) {
    const path = `/bench/failover-${trial}`;
    const child = spawn(
      process.execPath,
      [fixture, 'elect', server.connectString, path, 'crashing', String(FAILOVER_SESSION_MS)],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    const leading = new Promise((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (l) => {
        if (JSON.parse(l).leading === true) resolve();
      });
      child.on('exit', () => reject(new Error('the election child exited early')));
    });
    await leading;
    const client = await connect(server.connectString, { retry });
    const survivor = new LeaderElection(client, path, { id: 'survivor' });
    await survivor.start();
    const t = performance.now();
    child.kill('SIGKILL');
    await survivor.awaitLeadership();
    samples.push(performance.now() - t);
    await survivor.close();
    await client.close();
  }
  samples.sort((a, b) => a - b);
  return {
    p50Ms: +percentile(samples, 50).toFixed(0),
    maxMs: +samples.at(-1).toFixed(0),
    sessionTimeoutMs: FAILOVER_SESSION_MS,
    trials: FAILOVER_TRIALS,
  };
}

/** The newest earlier run with the same fsync setting (comparing fsync on with off says nothing). */
async function previousResults() {
  const dir = join(here, 'results');
  const files = (await readdir(dir).catch(() => []))
    .filter((f) => f.startsWith('recipes-') && f.endsWith('.json'))
    .sort()
    .reverse();
  for (const file of files) {
    const data = JSON.parse(await readFile(join(dir, file), 'utf8'));
    if (data.fsync === FSYNC) return { file, data };
  }
  return undefined;
}

async function main() {
  const dataDir = await mkdtemp(join(tmpdir(), 'conclave-bench-recipes-'));
  // tick 200 ms → sessions of 0.4–4 s, so a crash failover finishes in seconds.
  const server = await startServer({ dataDir, port: 0, fsync: FSYNC, tickMs: 200, maxConnectionsPerIp: 256 });
  const results = {};
  try {
    results['uncontended acquire+release'] = await lockLoop(server, 1, 'uncontended');
    results['hand-offs, 8 contenders'] = await lockLoop(server, 8, 'c8');
    results['hand-offs, 64 contenders'] = await lockLoop(server, 64, 'c64');
    results['election hand-over on close()'] = await handover(server);
    results['election failover after kill -9'] = await crashFailover(server);
  } finally {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
  const previous = await previousResults();
  console.log(
    `recipes benchmark: fsync ${FSYNC ? 'on' : 'OFF'}, ${MEASURE_MS} ms windows, ${cpus().length} cpus, node ${process.version}`,
  );
  for (const [name, r] of Object.entries(results)) {
    const before = previous?.data.results?.[name];
    const delta =
      before?.opsPerSec && r.opsPerSec
        ? ` (${(((r.opsPerSec - before.opsPerSec) / before.opsPerSec) * 100).toFixed(1)}% vs previous)`
        : '';
    const text = Object.entries(r)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    console.log(`  ${name.padEnd(36)} ${text}${delta}`);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out = join(here, 'results', `recipes-${stamp}.json`);
  await writeFile(
    out,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: cpus().length, fsync: FSYNC, measureMs: MEASURE_MS, results }, null, 2)}\n`,
  );
  console.log(`saved ${out}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
