import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  connect as netConnect,
  type Socket,
} from 'node:net';
import { type LocalEnsemble, type Server, startEnsemble, startServer } from '@conclave/server';
// Bundles the member entry from the server's current sources (as the server's own ensemble tests
// do), so this target never runs a stale or half-built dist/.
import { buildMemberEntry } from '../../server/test/ensemble/build-member.js';
import { afterAll, beforeEach } from 'vitest';
import { type ConclaveClient, type ConnectOptions, connect } from '../src/index.js';

/**
 * What the shared fixture runs: a standalone server (default) or, with CONCLAVE_TARGET=ensemble,
 * a 3-member replicated ensemble of real processes (issue 7: the same tests, unchanged, must
 * pass against both). The ensemble target needs a built @conclave/server (`pnpm --filter
 * @conclave/server build`): startEnsemble spawns dist/ensemble/member-main.js.
 */
export const target: 'standalone' | 'ensemble' =
  process.env.CONCLAVE_TARGET === 'ensemble' ? 'ensemble' : 'standalone';

/** Options of startServer the tests vary. */
export interface TestServerOptions {
  tickMs?: number;
  minSessionTimeoutMs?: number;
  maxSessionTimeoutMs?: number;
  maxFrameBytes?: number;
  superDigest?: string;
}

/** The one client endpoint a test may point a proxy at. */
export interface TestEndpoint {
  readonly port: number;
}

/** Where the fixture's service runs; each target implements restart its own way. */
interface Backend {
  readonly endpoint: TestEndpoint;
  readonly connectString: string;
  restart(between?: () => Promise<unknown>): Promise<void>;
  close(): Promise<void>;
}

/** One standalone server; restart closes it and starts a new one on the same dir and port. */
class StandaloneBackend implements Backend {
  private constructor(
    private server: Server,
    private readonly dataDir: string,
    private readonly opts: TestServerOptions,
  ) {}

  static async start(dataDir: string, opts: TestServerOptions): Promise<StandaloneBackend> {
    return new StandaloneBackend(await startServer({ dataDir, fsync: false, ...opts }), dataDir, opts);
  }

  get endpoint(): TestEndpoint {
    return this.server;
  }

  get connectString(): string {
    return this.server.connectString;
  }

  async restart(between?: () => Promise<unknown>): Promise<void> {
    const port = this.server.port;
    await this.server.close();
    await between?.();
    this.server = await startServer({ dataDir: this.dataDir, fsync: false, port, ...this.opts });
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

/**
 * The member entry, bundled once per test file (bundling is CPU work: once per TestServer would
 * slow the whole suite down on a busy machine) and removed after the file's last test.
 */
let memberBuild: ReturnType<typeof buildMemberEntry> | undefined;
async function builtMemberEntry(): Promise<string> {
  memberBuild ??= buildMemberEntry();
  return (await memberBuild).entry;
}
// Registered on the root suite of every test file that imports this module: runs after its tests.
afterAll(async () => {
  const build = memberBuild;
  memberBuild = undefined;
  await (await build?.catch(() => undefined))?.remove();
});

/**
 * startEnsemble picks free ports by binding port 0 and releasing each at once, so another process
 * (a parallel test file's ensemble) can take one before the member binds it (EADDRINUSE), and two
 * picks can even return the same port (the config then names one address twice). Retry a few
 * times on a fresh directory (a failed attempt may have left state in its member dirs).
 */
const PORT_RACE = /EADDRINUSE|is used twice/;

async function startEnsembleRetrying(dataDir: string, tickMs: number, entry: string): Promise<LocalEnsemble> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEnsemble({
        size: 3,
        dataDir: join(dataDir, `attempt-${attempt}`),
        tickMs,
        fsync: false,
        entry,
      });
    } catch (err) {
      if (attempt >= 3 || !PORT_RACE.test(String((err as Error).message))) throw err;
    }
  }
}

/**
 * Waits until every member serves: waitForLeader only needs a quorum, and a standalone server
 * serves as soon as startServer resolves, which the tests assume of the member they talk to.
 */
async function allServing(ensemble: LocalEnsemble): Promise<void> {
  await waitFor(
    async () =>
      (await Promise.all(ensemble.members.map((m) => ensemble.status(m.id)))).every((st) => st?.serving),
    'every ensemble member to serve',
    20_000,
  );
}

/**
 * Which members an ensemble target's clients are given (CONCLAVE_ENSEMBLE_CLIENTS):
 * - `one` (default): ONE follower's endpoint. Every write is forwarded to the leader and every
 *   `sync` goes through it, while all the test's clients share one member's view. That matters:
 *   ZooKeeper (and Conclave) promise each client its own order, not cross-client read-your-writes
 *   across members, and tests written against one standalone server assert the opposite
 *   (`a.create(p)` then `b.exists(p)` on another member may legally see null).
 * - `all`: every member, as a real deployment lists them. The client shuffles them and moves
 *   between them on every reconnect (restarts, heartbeat loss), so sessions really move across
 *   members (re-validation, watch re-registration, SESSIONMOVED) in these tests.
 */
export const ensembleClients: 'one' | 'all' = process.env.CONCLAVE_ENSEMBLE_CLIENTS === 'all' ? 'all' : 'one';

/**
 * Tests that assume read-your-writes ACROSS clients (one client writes, another reads or watches at
 * once), which only one shared member gives; with every member listed the second client may sit on
 * a member that has not applied the write yet, legally. The all-members pass skips them (the
 * default pass runs them). Run that pass with
 * `CONCLAVE_TARGET=ensemble CONCLAVE_ENSEMBLE_CLIENTS=all npx vitest run`.
 */
const ASSUME_CROSS_CLIENT_READ_YOUR_WRITES = new Set([
  'maps request paths, created paths and child names through the chroot',
  'a child watch fires NodeChildrenChanged once; deleting the node fires NodeDeleted for data and child watches',
  'emits every notification as a "watch" event, and survives a listener that throws',
  'PERSISTENT fires for every change of the node and its children list until unsubscribed',
  'keeps watches across a server restart and delivers the changes it missed',
  'removes one-shot watches server and client side and tells their listeners',
]);

// Registered on the root suite of every test file that imports this module.
if (target === 'ensemble' && ensembleClients === 'all') {
  beforeEach((ctx) => {
    if (ASSUME_CROSS_CLIENT_READ_YOUR_WRITES.has(ctx.task.name)) ctx.skip();
  });
}

/**
 * A 3-voter ensemble of real member processes. "Restart the server on the same data dir" is: stop
 * every member cleanly, run `between`, start every member again on its own data dir and ports, and
 * wait until every member serves again (the listed member may then lead: fine, the tests are about
 * what clients see).
 */
class EnsembleBackend implements Backend {
  private constructor(
    private readonly ensemble: LocalEnsemble,
    private readonly follower: TestEndpoint,
  ) {}

  static async start(dataDir: string, opts: TestServerOptions): Promise<EnsembleBackend> {
    const unsupported = (
      ['minSessionTimeoutMs', 'maxSessionTimeoutMs', 'maxFrameBytes', 'superDigest'] as const
    ).filter((k) => opts[k] !== undefined);
    if (unsupported.length > 0) {
      throw new Error(
        `TestServer: startEnsemble has no ${unsupported.join(', ')} option; skip this test for the ensemble target`,
      );
    }
    // The standalone default tickMs (2000) unless the test sets one: session timeouts are clamped
    // to [2, 20] ticks on both targets, so a test sees the same negotiated timeouts.
    const ensemble = await startEnsembleRetrying(dataDir, opts.tickMs ?? 2000, await builtMemberEntry());
    try {
      const leader = await ensemble.waitForLeader();
      await allServing(ensemble);
      const follower = ensemble.members.find((m) => m.id !== leader)!;
      return new EnsembleBackend(ensemble, { port: follower.clientPort });
    } catch (err) {
      await ensemble.close();
      throw err;
    }
  }

  /** One follower's endpoint (for tests that put a proxy in front of "the server"). */
  get endpoint(): TestEndpoint {
    return this.follower;
  }

  get connectString(): string {
    return ensembleClients === 'all' ? this.ensemble.connectString : `127.0.0.1:${this.follower.port}`;
  }

  async restart(between?: () => Promise<unknown>): Promise<void> {
    const ids = this.ensemble.members.map((m) => m.id);
    await Promise.all(ids.map((id) => this.ensemble.stop(id)));
    await between?.();
    await Promise.all(ids.map((id) => this.ensemble.restart(id)));
    await this.ensemble.waitForLeader();
    await allServing(this.ensemble);
  }

  close(): Promise<void> {
    return this.ensemble.close();
  }
}

/**
 * The service the client tests talk to, on 127.0.0.1 in a temp data dir (fsync off: durability is
 * not what these tests are about): a standalone server, or a 3-member ensemble under
 * CONCLAVE_TARGET=ensemble (see {@link target}). `restart()` restarts it on the same data and ports.
 */
export class TestServer {
  readonly dataDir: string;
  private readonly backend: Backend;
  private readonly clients: ConclaveClient[] = [];

  private constructor(backend: Backend, dataDir: string) {
    this.backend = backend;
    this.dataDir = dataDir;
  }

  static async start(opts: TestServerOptions = {}): Promise<TestServer> {
    const dataDir = await mkdtemp(join(tmpdir(), 'conclave-client-test-'));
    try {
      const backend =
        target === 'ensemble'
          ? await EnsembleBackend.start(dataDir, opts)
          : await StandaloneBackend.start(dataDir, opts);
      return new TestServer(backend, dataDir);
    } catch (err) {
      await rm(dataDir, { recursive: true, force: true });
      throw err;
    }
  }

  /** One client endpoint (an ensemble's: a follower's). */
  get server(): TestEndpoint {
    return this.backend.endpoint;
  }

  get connectString(): string {
    return this.backend.connectString;
  }

  /** A client that stop() closes. */
  async client(suffix = '', opts: ConnectOptions = {}): Promise<ConclaveClient> {
    const c = await connect(this.connectString + suffix, { sessionTimeoutMs: 10_000, ...opts });
    this.clients.push(c);
    return c;
  }

  /** Restarts the service on the same data and ports, running `between` while it is down. */
  restart(between?: () => Promise<unknown>): Promise<void> {
    return this.backend.restart(between);
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.clients.map((c) => c.close()));
    await this.backend.close();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

/** Polls `cond` until it is truthy or the deadline passes (no fixed sleeps in tests). */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  what: string,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/**
 * A TCP proxy on 127.0.0.1 that can freeze its current connections: bytes stop flowing both ways
 * but no socket closes, as when a network path goes dark. New connections flow normally.
 */
export class FreezableProxy {
  readonly port: number;
  /** Bytes forwarded from clients to the server, all connections together. */
  bytesUp = 0;
  private readonly server: NetServer;
  private readonly pairs = new Set<[Socket, Socket]>();

  private constructor(server: NetServer, port: number) {
    this.server = server;
    this.port = port;
  }

  static async start(targetPort: number): Promise<FreezableProxy> {
    const server = createNetServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const proxy = new FreezableProxy(server, (server.address() as AddressInfo).port);
    server.on('connection', (down) => {
      const up = netConnect(targetPort, '127.0.0.1');
      const pair: [Socket, Socket] = [down, up];
      proxy.pairs.add(pair);
      down.on('data', (b) => {
        proxy.bytesUp += b.length;
        up.write(b);
      });
      up.on('data', (b) => down.write(b));
      const end = () => {
        proxy.pairs.delete(pair);
        down.destroy();
        up.destroy();
      };
      down.on('close', end).on('error', end);
      up.on('close', end).on('error', end);
    });
    return proxy;
  }

  get connections(): number {
    return this.pairs.size;
  }

  /** Stops forwarding on every current connection, leaving the sockets open. */
  freeze(): void {
    for (const [down, up] of this.pairs) {
      down.removeAllListeners('data');
      up.removeAllListeners('data');
      down.pause();
      up.pause();
    }
  }

  async close(): Promise<void> {
    for (const [down, up] of this.pairs) {
      down.destroy();
      up.destroy();
    }
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
