/**
 * One demo worker process: a real @conclave/client session running the recipes, reporting what it
 * sees as JSON lines on stdout (see protocol.ts).
 *
 *   node dist/worker.js --connect 127.0.0.1:2181,... --id w1 --roles producer
 *
 * It contends for a Mutex, runs for leader, obeys a ConfigValue and produces to or consumes from a
 * DistributedQueue. When its session is gone (LOST or EXPIRED) it exits with status 3 and the demo
 * starts a fresh one: a lost session means its locks and leadership are gone, and the honest way to
 * carry on is with a new session. It exits when its stdin closes (the demo went away).
 */
import { parseArgs } from 'node:util';
import { type ConclaveClient, connect } from '@conclave/client';
import { ConfigValue, DistributedQueue, LeaderElection, Mutex } from '@conclave/recipes';
import { tolerantJson } from '../shared/tolerant-codec.js';
import { DEFAULT_CONFIG, type DemoConfig, PATHS } from '../shared/view-model.js';
import { lineSplitter, type WorkerCommand, type WorkerReport } from './protocol.js';
import { sanitizeConfig } from './sanitize-config.js';

const { values } = parseArgs({
  options: {
    connect: { type: 'string' },
    id: { type: 'string' },
    roles: { type: 'string', default: '' },
    'session-timeout': { type: 'string', default: '4000' },
  },
});
if (values.connect === undefined || values.id === undefined) {
  process.stderr.write('usage: worker --connect HOST:PORT,... --id ID [--roles producer,consumer]\n');
  process.exit(2);
}
const connectString = values.connect;
const id = values.id;
const roles = values.roles
  .split(',')
  .filter((r): r is 'producer' | 'consumer' => r === 'producer' || r === 'consumer');

const report = (r: WorkerReport) => process.stdout.write(`${JSON.stringify(r)}\n`);
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
const describe = (err: unknown) =>
  err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err);

const stop = new AbortController();
let config: DemoConfig = DEFAULT_CONFIG;
let lock: 'idle' | 'waiting' | 'holding' = 'idle';
let lockSinceMs: number | null = null;
let lockAcquisitions = 0;
let isLeader = false;
let produced = 0;
let consumed = 0;

function setLock(next: typeof lock): void {
  lock = next;
  lockSinceMs = next === 'idle' ? null : Date.now();
  // Report at once: the lock panel must not show a holder that already released.
  reportStatus();
}

let currentState = 'CONNECTING';
function reportStatus(): void {
  report({
    type: 'status',
    connection: currentState,
    lock,
    lockSinceMs,
    lockAcquisitions,
    isLeader,
    produced,
    consumed,
  });
}

async function lockLoop(client: ConclaveClient): Promise<void> {
  const mutex = new Mutex(client, PATHS.lock);
  while (!stop.signal.aborted) {
    setLock('waiting');
    try {
      const handle = await mutex.acquire({ timeoutMs: 30_000, signal: stop.signal });
      setLock('holding');
      lockAcquisitions++;
      await sleep(config.lockHoldMs, stop.signal);
      await handle.release();
    } catch (err) {
      if (stop.signal.aborted) break;
      report({ type: 'event', text: `lock: ${describe(err)}`, error: true });
      await sleep(500, stop.signal);
    }
    setLock('idle');
    // A short random pause so the queue order visibly changes between rounds.
    await sleep(20 + Math.floor(Math.random() * 60), stop.signal);
  }
}

async function electionLoop(client: ConclaveClient): Promise<void> {
  const election = new LeaderElection(client, PATHS.election, { id, payload: { pid: process.pid } });
  let term: ReturnType<typeof setTimeout> | undefined;
  const resign = () => {
    if (!election.isLeader) return;
    election
      .resign()
      .catch((err) => report({ type: 'event', text: `resign: ${describe(err)}`, error: true }));
  };
  election.isLeader$.subscribe((leading) => {
    isLeader = leading;
    report({ type: 'leader', isLeader: leading });
    clearTimeout(term);
    // Leadership moves on its own every leaderTermMs so the election panel has a history to show.
    if (leading && config.leaderTermMs > 0) term = setTimeout(resign, config.leaderTermMs);
  });
  commandHandlers.resign = resign;
  stop.signal.addEventListener('abort', () => clearTimeout(term), { once: true });
  await election.start({ signal: stop.signal });
}

function watchConfig(client: ConclaveClient): void {
  const value = new ConfigValue<unknown>(client, PATHS.config, {
    defaultValue: DEFAULT_CONFIG,
    codec: tolerantJson,
  });
  value.versioned$.subscribe({
    next: (v) => {
      config = sanitizeConfig(v.value);
      report({ type: 'config', value: v.value, version: v.version });
    },
    error: (err) => report({ type: 'event', text: `config: ${describe(err)}`, error: true }),
  });
}

async function produceLoop(client: ConclaveClient): Promise<void> {
  const queue = new DistributedQueue(client, PATHS.queue);
  let n = 0;
  while (!stop.signal.aborted) {
    try {
      await queue.offer(JSON.stringify({ from: id, n: n++, atMs: Date.now() }));
      produced++;
    } catch (err) {
      if (stop.signal.aborted) break;
      report({ type: 'event', text: `offer: ${describe(err)}`, error: true });
      await sleep(500, stop.signal);
    }
    await sleep(config.produceEveryMs, stop.signal);
  }
}

async function consumeLoop(client: ConclaveClient): Promise<void> {
  const queue = new DistributedQueue(client, PATHS.queue);
  while (!stop.signal.aborted) {
    try {
      await queue.take({ timeoutMs: 2_000, signal: stop.signal });
      consumed++;
      await sleep(config.consumeWorkMs, stop.signal);
    } catch (err) {
      if (stop.signal.aborted) break;
      if ((err as { code?: string }).code === 'OPERATIONTIMEOUT') continue; // empty queue: take again
      report({ type: 'event', text: `take: ${describe(err)}`, error: true });
      await sleep(500, stop.signal);
    }
  }
}

const commandHandlers: { resign?: () => void } = {};

async function main(): Promise<void> {
  const client = await connect(connectString, {
    sessionTimeoutMs: Number(values['session-timeout']),
    retry: { retries: 30, minTimeoutMs: 50, maxTimeoutMs: 500 },
  });
  report({ type: 'hello', id, pid: process.pid, sessionId: `0x${client.sessionId.toString(16)}`, roles });
  client.on('state', (state: string) => {
    report({ type: 'state', connection: state });
    if (state === 'LOST' || state === 'EXPIRED') {
      report({
        type: 'event',
        text: `session ${state}: its lock and leadership are gone; restarting`,
        error: true,
      });
      process.exit(3);
    }
  });
  process.stdin.on(
    'data',
    lineSplitter((line) => {
      const cmd = JSON.parse(line) as WorkerCommand;
      if (cmd.type === 'resign') commandHandlers.resign?.();
    }),
  );
  const shutdown = () => {
    if (stop.signal.aborted) return;
    stop.abort();
    // Closing the session deletes our ephemerals at once, so the others move on without waiting
    // for a session timeout. Bounded: a dead ensemble must not keep us alive.
    const force = setTimeout(() => process.exit(0), 1500);
    client.close().finally(() => {
      clearTimeout(force);
      process.exit(0);
    });
  };
  process.stdin.on('end', shutdown);
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  currentState = client.state;
  client.on('state', (state: string) => {
    currentState = state;
  });
  setInterval(reportStatus, 250).unref();

  watchConfig(client);
  const loops = [lockLoop(client), electionLoop(client)];
  if (roles.includes('producer')) loops.push(produceLoop(client));
  if (roles.includes('consumer')) loops.push(consumeLoop(client));
  await Promise.all(
    loops.map((p) => p.catch((err) => report({ type: 'event', text: describe(err), error: true }))),
  );
}

main().catch((err) => {
  report({ type: 'event', text: `worker failed: ${describe(err)}`, error: true });
  process.exit(1);
});
