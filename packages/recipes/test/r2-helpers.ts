import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ConclaveClient } from '@conclave/client';
import { type Server, startServer } from '@conclave/server';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { Clients as BaseClients, waitFor as baseWaitFor } from './helpers.js';

/** Cuts one client's connection; see helpers.ts. */
export { CuttableProxy as CutProxy } from './helpers.js';

/** Long runs (10k queue items, 8×500 increments) only when CONCLAVE_LONG=1; CI runs smaller counts. */
export const LONG = process.env.CONCLAVE_LONG === '1';

const here = dirname(fileURLToPath(import.meta.url));
export const fixturesDir = join(here, 'fixtures-r2');
const pkgRoot = join(here, '..');

/**
 * A standalone server on 127.0.0.1 with 100 ms ticks (sessions of 0.2–30 s), in a temp dir. Made
 * unstarted so a suite can hold it from the top level (see {@link useR2Suite}); `start()` boots it.
 */
export class TestServer {
  private booted: { server: Server; dataDir: string } | undefined;

  async start(): Promise<void> {
    if (this.booted !== undefined) throw new Error('invariant: TestServer started twice');
    const dataDir = await mkdtemp(join(tmpdir(), 'conclave-r2-'));
    this.booted = { server: await TestServer.boot(dataDir, 0), dataDir };
  }

  private static boot(dataDir: string, port: number): Promise<Server> {
    return startServer({
      dataDir,
      port,
      tickMs: 100,
      minSessionTimeoutMs: 200,
      maxSessionTimeoutMs: 30_000,
      fsync: false,
      maxConnectionsPerIp: 200,
    });
  }

  get server(): Server {
    return this.running().server;
  }

  get dataDir(): string {
    return this.running().dataDir;
  }

  get connectString(): string {
    return this.server.connectString;
  }

  /**
   * Stops the server and starts it again on the same port and data directory, running `between`
   * while it is down (e.g. to wait until clients have gone LOST).
   */
  async restart(between?: () => Promise<unknown>): Promise<void> {
    const { server, dataDir } = this.running();
    const port = server.port;
    await server.close();
    await between?.();
    this.booted = { server: await TestServer.boot(dataDir, port), dataDir };
  }

  async stop(): Promise<void> {
    if (this.booted === undefined) return;
    const { server, dataDir } = this.booted;
    this.booted = undefined;
    await server.close().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
  }

  private running(): { server: Server; dataDir: string } {
    if (this.booted === undefined)
      throw new Error('TestServer is not running: useR2Suite() starts it in beforeAll; use it inside a test');
    return this.booted;
  }
}

/** Closes every client made through it at the end of a test (r2 tests: 5 s sessions by default). */
export class Clients extends BaseClients {
  constructor() {
    super(5_000);
  }
}

/** Polls `check` until it returns something truthy, or throws after `timeoutMs` (default 20 s). */
export function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 20_000): Promise<T> {
  return baseWaitFor(what, check, timeoutMs);
}

/**
 * The setup every r2 suite shares, registered as vitest hooks at the top level of a test file: one
 * server for the whole file (started before the first test, stopped after the last) and one
 * Clients set, closed after each test.
 */
export function useR2Suite(): { ts: TestServer; clients: Clients } {
  const ts = new TestServer();
  const clients = new Clients();
  beforeAll(async () => {
    await ts.start();
  });
  afterAll(async () => {
    await ts.stop();
  });
  afterEach(async () => {
    await clients.closeAll();
  });
  return { ts, clients };
}

/**
 * Child processes need built JS. Rather than rebuilding the packages' shared dist/ (other test
 * runs may be importing it at that moment), the worker fixture is bundled with esbuild into one
 * CommonJS file in a temp dir, resolving workspace packages to their sources ('source'
 * condition) exactly as vitest does: children always run the code under test.
 */
let bundlePromise: Promise<string> | undefined;
export function workerBundle(): Promise<string> {
  bundlePromise ??= bundleFromSources(join(fixturesDir, 'worker.ts'), 'worker');
  return bundlePromise;
}

/**
 * `entry` and everything it imports, bundled with esbuild into one CommonJS file in a new temp
 * dir (workspace packages resolved to their sources): the path of that file.
 */
export async function bundleFromSources(entry: string, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `conclave-r2-bundle-${name}-`));
  const out = join(dir, `${name}.cjs`);
  // esbuild is tsup's own dependency: load it from there rather than adding a dependency.
  const requireFromTsup = createRequire(join(pkgRoot, '..', '..', 'node_modules', 'tsup', 'package.json'));
  const esbuild = requireFromTsup('esbuild') as { build(opts: Record<string, unknown>): Promise<unknown> };
  await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    conditions: ['source'],
    logLevel: 'error',
    external: ['bufferutil', 'utf-8-validate', 'cbor-extract'],
    outfile: out,
  });
  return out;
}

/** A fixture process speaking line-delimited JSON on stdout. */
export class Fixture {
  readonly lines: unknown[] = [];
  private readonly waiters: (() => void)[] = [];
  readonly exited: Promise<number | null>;
  stderr = '';

  constructor(readonly child: ChildProcess) {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      try {
        this.lines.push(JSON.parse(line));
      } catch {
        this.lines.push({ raw: line });
      }
      for (const w of this.waiters.splice(0)) w();
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  static async spawn(args: Record<string, unknown>): Promise<Fixture> {
    const child = spawn(process.execPath, [await workerBundle(), JSON.stringify(args)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new Fixture(child);
  }

  /** Waits for a stdout line matching `pred`. */
  async line<T = Record<string, unknown>>(pred: (l: T) => boolean, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = (this.lines as T[]).find(pred);
      if (found !== undefined) return found;
      const failed = (this.lines as { event?: string }[]).find((l) => l.event === 'error');
      if (failed !== undefined)
        throw new Error(`fixture failed: ${JSON.stringify(failed)}; stderr: ${this.stderr}`);
      if (Date.now() > deadline)
        throw new Error(`fixture: no matching line in ${timeoutMs} ms; stderr: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.exitCode === null && this.child.pid !== undefined) process.kill(this.child.pid, signal);
  }
}

export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Number of children of `path`, 0 when it does not exist. */
export async function childCount(client: ConclaveClient, path: string): Promise<number> {
  try {
    return (await client.getChildren(path)).children.length;
  } catch (err) {
    if ((err as { code?: string }).code === 'NONODE') return 0;
    throw err;
  }
}
