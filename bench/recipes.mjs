// Recipes benchmark (`pnpm bench:recipes`): uncontended Mutex acquire+release/s; contended
// hand-offs/s with 8 and 64 contenders (one session each, as PERFORMANCE.md's ZooKeeper baseline
// "lock hand-offs, 8 contenders in 8 sessions"); LeaderElection hand-over on close() and failover
// after kill -9 of the leader's process (bounded below by the session timeout). The server runs in
// a child process, as in a real deployment (and as ZooKeeper's JVM did in the baseline), so the
// load generator and the server each have their own event loop; they still share the machine's 2
// cores. Every lock row also reports the requests sent per acquire+release cycle, broken down by
// operation: unlike ops/s that number does not depend on how loaded the machine is. The "hand-off
// anatomy" row splits a hand-off into its write (delete → watch), its read and the client's work.
// Saves JSON under bench/results/.
//   BENCH_MEASURE_MS (default 3000), BENCH_FSYNC=0 to skip fsync (default: on, as ZooKeeper's),
//   BENCH_SERVER=inproc to run the server in this process instead (the old setup).
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect } from '../packages/client/dist/index.js';
import { LeaderElection, Mutex } from '../packages/recipes/dist/index.js';
import { newestSavedRun, percentile, saveRun } from './lib/results.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 3000);
const WARMUP_MS = Math.min(500, MEASURE_MS / 4);
const FSYNC = process.env.BENCH_FSYNC !== '0';
const SERVER_MODE = process.env.BENCH_SERVER === 'inproc' ? 'inproc' : 'child';
const FAILOVER_SESSION_MS = 2000;
const FAILOVER_TRIALS = 3;
const HANDOVER_TRIALS = 20;
const retry = { retries: 1000, minTimeoutMs: 10, maxTimeoutMs: 200 };
const fixture = join(here, '../packages/recipes/test/fixtures/contender.mjs');

/** The requests a recipe can send, counted while `counts.on` is set. */
const COUNTED = ['create', 'delete', 'exists', 'getData', 'setData', 'getChildren', 'sync', 'multi'];

/**
 * A RecipeClient that forwards to `client` and counts the requests the recipes send through it
 * (a wrapper, not a Proxy: the client's private fields need the real `this`).
 */
function counting(client, counts) {
  const wrapped = {
    get sessionId() {
      return client.sessionId;
    },
    get state() {
      return client.state;
    },
    get state$() {
      return client.state$;
    },
    addWatch: (...args) => client.addWatch(...args),
  };
  for (const op of COUNTED) {
    wrapped[op] = (...args) => {
      if (counts.on) counts[op] = (counts[op] ?? 0) + 1;
      return client[op](...args);
    };
  }
  return wrapped;
}

/** `contenders` sessions, each looping acquire → release on one lock path for the window. */
async function lockLoop(server, contenders, label) {
  const clients = await Promise.all(
    Array.from({ length: contenders }, () => connect(server.connectString, { retry })),
  );
  const path = `/bench/${label}`;
  let count = 0;
  let recording = false;
  const counts = { on: false };
  const latencies = [];
  let stop = false;
  const loops = clients.map(async (client) => {
    const mutex = new Mutex(counting(client, counts), path);
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
  counts.on = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, MEASURE_MS));
  recording = false;
  counts.on = false;
  const elapsedMs = performance.now() - t0;
  stop = true;
  await Promise.all(loops);
  await Promise.all(clients.map((c) => c.close()));
  latencies.sort((a, b) => a - b);
  return {
    opsPerSec: Math.round((count / elapsedMs) * 1000),
    p50Ms: +percentile(latencies, 50).toFixed(2),
    p99Ms: +percentile(latencies, 99).toFixed(2),
    ...requestsPerCycle(counts, count),
  };
}

/** Requests per acquire+release cycle: the total and each operation's share (e.g. create=1). */
function requestsPerCycle(counts, cycles) {
  const perCycle = (n) => +(n / Math.max(1, cycles)).toFixed(2);
  const ops = COUNTED.filter((op) => counts[op] !== undefined);
  const total = ops.reduce((sum, op) => sum + counts[op], 0);
  return {
    requestsPerCycle: perCycle(total),
    breakdown: ops.map((op) => `${op}:${perCycle(counts[op])}`).join(','),
  };
}

/**
 * Where a hand-off's time goes, 8 contenders: every request and watch firing is timestamped, and
 * each hand-off (holder n held → holder n+1 held) is split into its critical path — n's delete
 * until n+1's watch fires (the write, with its fsync), n+1's getChildren round trip (the read) —
 * and the rest (client-side work). Medians in ms. The timestamps cost a little CPU, so the rate
 * here is a bit below the plain row's.
 */
async function handOffAnatomy(server) {
  const clients = await Promise.all(
    Array.from({ length: 8 }, () => connect(server.connectString, { retry })),
  );
  const events = [];
  let recording = false;
  const traced = (client, who) => {
    const wrapped = counting(client, { on: false });
    for (const op of ['delete', 'exists', 'getChildren']) {
      wrapped[op] = async (path, opts) => {
        let options = opts;
        if (opts?.watch) {
          const watch = opts.watch;
          options = {
            ...opts,
            watch: (e) => {
              if (recording) events.push({ who, op: 'watch', t: performance.now() });
              watch(e);
            },
          };
        }
        const t0 = performance.now();
        try {
          return await client[op](path, options);
        } finally {
          if (recording) events.push({ who, op, t0, t: performance.now() });
        }
      };
    }
    return wrapped;
  };
  let stop = false;
  const loops = clients.map(async (client, who) => {
    const mutex = new Mutex(traced(client, who), '/bench/anatomy');
    while (!stop) {
      const lock = await mutex.acquire();
      if (recording) events.push({ who, op: 'held', t: performance.now() });
      await lock.release();
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
  const write = [];
  const read = [];
  const other = [];
  const last = {}; // per contender: its latest event of each kind, replayed in time order
  let previousHeld;
  for (const e of events.sort((a, b) => a.t - b.t)) {
    if (e.op !== 'held') {
      (last[e.who] ??= {})[e.op] = e;
      continue;
    }
    const mine = last[e.who] ?? {};
    const del = previousHeld && last[previousHeld.who]?.delete;
    if (del && mine.watch && mine.getChildren && del.t0 >= previousHeld.t && mine.watch.t >= del.t0) {
      const total = e.t - previousHeld.t;
      const w = mine.watch.t - del.t0;
      const r = mine.getChildren.t - mine.getChildren.t0;
      write.push(w);
      read.push(r);
      other.push(total - w - r);
    }
    previousHeld = e;
  }
  const median = (a) =>
    +percentile(
      [...a].sort((x, y) => x - y),
      50,
    ).toFixed(3);
  return {
    opsPerSec: Math.round((events.filter((e) => e.op === 'held').length / elapsedMs) * 1000),
    writeToWatchMs: median(write),
    readMs: median(read),
    clientSideMs: median(other),
    handOffs: write.length,
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

/** The newest earlier run with the same fsync and server setup (comparing across them says nothing). */
function previousResults() {
  return newestSavedRun(
    'recipes',
    (data) => data.fsync === FSYNC && (data.server ?? 'inproc') === SERVER_MODE,
  );
}

/**
 * Starts the server in a child process (default) or in this one (BENCH_SERVER=inproc). Either way
 * the result has `connectString` and `close()`.
 */
async function launchServer(options) {
  const serverModule = join(here, '../packages/server/dist/index.js');
  if (SERVER_MODE === 'inproc') {
    const { startServer } = await import(serverModule);
    return startServer(options);
  }
  const script = `
    import { startServer } from ${JSON.stringify(serverModule)};
    const server = await startServer(${JSON.stringify(options)});
    console.log(JSON.stringify({ connectString: server.connectString }));
    process.stdin.on('end', async () => { await server.close(); process.exit(0); });
    process.stdin.resume();
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const connectString = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', (l) => resolve(JSON.parse(l).connectString));
    child.once('exit', (code) => reject(new Error(`the server process exited early (${code})`)));
  });
  return {
    connectString,
    async close() {
      child.stdin.end(); // the child closes the server cleanly and exits
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function main() {
  const dataDir = await mkdtemp(join(tmpdir(), 'conclave-bench-recipes-'));
  // tick 200 ms → sessions of 0.4–4 s, so a crash failover finishes in seconds.
  const server = await launchServer({
    dataDir,
    port: 0,
    fsync: FSYNC,
    tickMs: 200,
    maxConnectionsPerIp: 256,
  });
  const results = {};
  try {
    results['uncontended acquire+release'] = await lockLoop(server, 1, 'uncontended');
    results['hand-offs, 8 contenders'] = await lockLoop(server, 8, 'c8');
    results['hand-offs, 64 contenders'] = await lockLoop(server, 64, 'c64');
    results['hand-off anatomy, 8 contenders'] = await handOffAnatomy(server);
    results['election hand-over on close()'] = await handover(server);
    results['election failover after kill -9'] = await crashFailover(server);
  } finally {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
  const previous = await previousResults();
  console.log(
    `recipes benchmark: fsync ${FSYNC ? 'on' : 'OFF'}, server ${SERVER_MODE === 'child' ? 'in a child process' : 'in-process'}, ${MEASURE_MS} ms windows, ${cpus().length} cpus, node ${process.version}`,
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
  await saveRun('recipes', {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    fsync: FSYNC,
    server: SERVER_MODE,
    measureMs: MEASURE_MS,
    results,
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
