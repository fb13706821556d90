/**
 * `pnpm demo`: a 3-member Conclave ensemble of real processes, worker processes running the
 * recipes, and a live web dashboard. Stays up until SIGINT/SIGTERM, then stops every process it
 * started.
 *
 *   node dist/main.js [--port 8080] [--host 127.0.0.1] [--data-dir DIR] [--workers 4] [--members 3] [--no-fsync]
 */
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Dashboard } from './backend/dashboard.js';
import { EventLog } from './backend/event-log.js';
import { startHttp } from './backend/http-server.js';
import { LocalEnsembleDriver } from './driver/local-ensemble-driver.js';
import { WorkerPool } from './workers/worker-pool.js';

const USAGE = `usage: conclave-demo [--port 8080] [--host 127.0.0.1] [--data-dir DIR] [--workers 4] [--members 3] [--no-fsync]`;

function intFlag(
  value: string | undefined,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    process.stderr.write(`--${name} must be an integer in [${min}, ${max}], got ${value}\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
}

/** Fails fast, before any process starts, when the dashboard's port is taken. */
function assertPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `port ${port} on ${host} is in use: pass --port with a free one (or --port 0 for any)`
            : `cannot listen on ${host}:${port}: ${err.message}`,
        ),
      ),
    );
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      'data-dir': { type: 'string' },
      workers: { type: 'string' },
      members: { type: 'string' },
      'no-fsync': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const port = intFlag(values.port, 'port', 0, 65535, 8080);
  const workerCount = intFlag(values.workers, 'workers', 0, 32, 4);
  const size = intFlag(values.members, 'members', 1, 7, 3);
  const here = dirname(fileURLToPath(import.meta.url));
  try {
    await assertPortFree(values.host, port);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const log = new EventLog();

  let stopping = false;
  let starting: Promise<unknown> | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  const shutdown = async (why: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    // Members still starting must be stopped too: wait until they can be.
    await starting?.catch(() => {});
    process.stdout.write(`\n${why}: stopping the workers and the ensemble…\n`);
    // Last registered, first stopped: the web server, then the dashboard's session, the workers,
    // and the members last (so the workers can still close their sessions cleanly).
    for (const c of cleanups.reverse()) await c().catch((err) => process.stderr.write(`${err}\n`));
    process.stdout.write('stopped\n');
    process.exit(code);
  };
  failed = (err) => {
    process.stderr.write(`demo failed: ${err.stack ?? err.message}\n`);
    void shutdown('failed', 1);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));

  process.stdout.write(`starting a ${size}-member ensemble…\n`);
  const startingDriver = LocalEnsembleDriver.start({
    size,
    ...(values['data-dir'] !== undefined ? { dataDir: values['data-dir'] } : {}),
    fsync: !values['no-fsync'],
    tickMs: 200,
    onMemberLog: (id, line) => log.add('error', `member ${id}: ${line}`),
  });
  starting = startingDriver;
  const driver = await startingDriver;
  cleanups.push(() => driver.close());
  if (stopping) return;
  const leader = await driver.waitForLeader(30_000);
  process.stdout.write(`member ${leader} leads; client endpoints ${driver.connectString}\n`);

  const dashboardRef: { current?: Dashboard } = {};
  const pool = new WorkerPool({
    entry: join(here, 'worker.js'),
    connectString: driver.connectString,
    count: workerCount,
    onEvent: (text, kind) => log.add(kind, text),
    onConfigSeen: () => dashboardRef.current?.configSeen(),
  });
  cleanups.push(() => pool.close());
  const dashboard = new Dashboard(driver, pool, log);
  dashboardRef.current = dashboard;
  cleanups.push(() => dashboard.close());
  await dashboard.start();
  pool.start();

  const server = await startHttp({
    host: values.host,
    port,
    webDir: join(here, 'web'),
    dashboard,
    driver,
    pool,
    log,
    pids: () => ({ demo: process.pid, members: driver.pids(), workers: pool.pids() }),
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const addr = server.address();
  const boundPort = typeof addr === 'object' && addr !== null ? addr.port : port;
  process.stdout.write(`\nConclave demo dashboard: http://${values.host}:${boundPort}\n(Ctrl-C to stop)\n`);
}

/** Set by main once it can clean up: whatever was started must not outlive a failure. */
let failed: (err: Error) => void = (err) => {
  process.stderr.write(`demo failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
};

main().catch((err: Error) => failed(err));
