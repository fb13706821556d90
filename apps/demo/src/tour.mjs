// A guided tour of Conclave, run by `pnpm demo`: a durable standalone server, several clients,
// watches, ephemerals and the recipes, each step printing what it shows. It ends by itself
// (exit code 0 when every step behaved as promised); `--keep` leaves the server up for `conclave cli`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@conclave/client';
import { ConfigValue, DistributedQueue, LeaderElection, Mutex } from '@conclave/recipes';
import { startServer } from '@conclave/server';
import { firstValueFrom, filter } from 'rxjs';

const keep = process.argv.includes('--keep');
const text = (bytes) => new TextDecoder().decode(bytes);
const step = (title) => console.log(`\n\x1b[1m== ${title}\x1b[0m`);
const check = (ok, what) => {
  console.log(`  ${ok ? '\x1b[32mok\x1b[0m' : '\x1b[31mFAILED\x1b[0m'}  ${what}`);
  if (!ok) process.exitCode = 1;
};

const dataDir = await mkdtemp(join(tmpdir(), 'conclave-demo-'));
const server = await startServer({ dataDir, tickMs: 500 });
console.log(`Conclave standalone server on ${server.connectString} (data in ${dataDir})`);
console.log(`admin: ${server.adminUrl}/ruok`);
const clients = [];
const open = async (opts) => {
  const c = await connect(server.connectString, { sessionTimeoutMs: 4000, ...opts });
  clients.push(c);
  return c;
};

try {
  step('Znodes, versions and typed errors');
  const a = await open();
  await a.create('/demo', 'hello');
  const stat = await a.setData('/demo', 'hello again', { version: 0 });
  check(stat.version === 1, `setData with version 0 succeeded, the node is now at version ${stat.version}`);
  try {
    await a.setData('/demo', 'stale write', { version: 0 });
    check(false, 'a stale version must be refused');
  } catch (err) {
    check(err.code === 'BADVERSION', `a stale write fails with ${err.name} (${err.code} ${err.errno})`);
  }

  step('Watches: data$ sees every change, in order');
  const seen = [];
  const sub = a.data$('/demo').subscribe((node) => seen.push(node ? text(node.data) : null));
  const b = await open();
  for (const v of ['one', 'two', 'three']) await b.setData('/demo', v);
  await firstValueFrom(a.data$('/demo').pipe(filter((n) => n !== null && text(n.data) === 'three')));
  sub.unsubscribe();
  check(seen.at(-1) === 'three', `subscriber saw: ${seen.join(' → ')}`);

  step('Ephemerals vanish with their session');
  await a.create('/demo/members', '');
  const c = await open();
  await c.create('/demo/members/worker-c', '', { mode: 'EPHEMERAL' });
  const before = (await a.getChildren('/demo/members')).children;
  await c.close();
  const after = (await a.getChildren('/demo/members')).children;
  check(before.length === 1 && after.length === 0, `members before close: [${before}], after: [${after}]`);

  step('Mutex: 4 workers × 5 turns, one holder at a time');
  let holders = 0;
  let maxHolders = 0;
  let turns = 0;
  const workers = await Promise.all([1, 2, 3, 4].map(() => open()));
  const t0 = performance.now();
  await Promise.all(
    workers.map(async (w) => {
      const mutex = new Mutex(w, '/demo/lock');
      for (let i = 0; i < 5; i++) {
        const lock = await mutex.acquire({ timeoutMs: 10_000 });
        holders++;
        maxHolders = Math.max(maxHolders, holders);
        await new Promise((r) => setImmediate(r));
        holders--;
        turns++;
        await lock.release();
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  check(
    maxHolders === 1 && turns === 20,
    `${turns} turns, at most ${maxHolders} holder, ${(turns / seconds).toFixed(0)} hand-offs/s`,
  );

  step('Leader election: exactly one leader, resign hands over');
  const elections = workers
    .slice(0, 3)
    .map((w, i) => new LeaderElection(w, '/demo/election', { id: `worker-${i + 1}` }));
  for (const e of elections) await e.start();
  await elections[0].awaitLeadership({ signal: AbortSignal.timeout(10_000) });
  const leaderOf = (e) => firstValueFrom(e.leader$.pipe(filter((l) => l !== null)));
  check((await leaderOf(elections[2])).id === 'worker-1', 'worker-1 leads, and worker-3 agrees');
  await elections[0].resign();
  await elections[1].awaitLeadership({ signal: AbortSignal.timeout(10_000) });
  check(true, 'worker-1 resigned; worker-2 now leads');
  for (const e of elections) await e.close();

  step('ConfigValue: every worker picks up the new value');
  const configs = workers.map((w) => new ConfigValue(w, '/demo/config'));
  await configs[0].set({ featureX: false, limit: 10 });
  await configs[0].update((v) => ({ ...v, featureX: true }));
  const values = await Promise.all(
    configs.map((cfg) => firstValueFrom(cfg.value$.pipe(filter((v) => v?.featureX === true)))),
  );
  check(
    values.every((v) => v.limit === 10),
    `all ${values.length} workers see ${JSON.stringify(values[0])}`,
  );

  step('DistributedQueue: 200 items, 3 consumers, each taken exactly once');
  const queue = new DistributedQueue(a, '/demo/queue');
  for (let i = 0; i < 200; i++) await queue.offer(`job-${i}`);
  const taken = [];
  await Promise.all(
    workers.slice(0, 3).map(async (w) => {
      const q = new DistributedQueue(w, '/demo/queue');
      for (let item = await q.poll(); item !== null; item = await q.poll()) taken.push(text(item));
    }),
  );
  check(
    taken.length === 200 && new Set(taken).size === 200,
    `${taken.length} taken, ${new Set(taken).size} distinct`,
  );

  step('Admin endpoint');
  const mntr = await (await fetch(`${server.adminUrl}/mntr`)).text();
  for (const line of mntr
    .split('\n')
    .filter((l) => /^zk_(znode_count|num_alive_connections|fsync)/.test(l))) {
    console.log(`  ${line}`);
  }
} finally {
  if (keep) {
    console.log(
      `\nServer left running on ${server.connectString}; try: pnpm --filter @conclave/cli exec conclave cli --server ${server.connectString.split('/')[0]} ls -R /`,
    );
    console.log('Ctrl-C to stop.');
    await new Promise((resolve) => process.once('SIGINT', resolve));
  }
  await Promise.allSettled(clients.map((c) => c.close()));
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
}
console.log(process.exitCode ? '\nThe tour found a problem (see FAILED above).' : '\nTour complete.');
