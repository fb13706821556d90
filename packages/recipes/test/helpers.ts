import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConclaveClient, connect } from '@conclave/client';
import { type Server, startServer } from '@conclave/server';

/** A standalone server on 127.0.0.1:0 with short ticks (sessions of 0.2–4 s), in a temp dir. */
export async function startTestServer(
  opts: { port?: number; dataDir?: string; cleanupIntervalMs?: number; fsync?: boolean } = {},
): Promise<{
  server: Server;
  dataDir: string;
  stop(): Promise<void>;
}> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'conclave-recipes-')));
  const server = await startServer({
    dataDir,
    port: opts.port ?? 0,
    tickMs: 100,
    minSessionTimeoutMs: 200,
    maxSessionTimeoutMs: 30_000,
    fsync: opts.fsync ?? false,
    cleanupIntervalMs: opts.cleanupIntervalMs ?? 100,
  });
  return {
    server,
    dataDir,
    async stop() {
      await server.close();
      if (opts.dataDir === undefined) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Closes every client made through it, at the end of a test. */
export class Clients {
  readonly all: ConclaveClient[] = [];

  /** @param defaultSessionTimeoutMs the session timeout of `connect()` when it is not given one */
  constructor(private readonly defaultSessionTimeoutMs = 4_000) {}

  async connect(
    connectString: string,
    sessionTimeoutMs = this.defaultSessionTimeoutMs,
  ): Promise<ConclaveClient> {
    const client = await connect(connectString, {
      sessionTimeoutMs,
      retry: { retries: 1_000, minTimeoutMs: 10, maxTimeoutMs: 100 },
    });
    this.all.push(client);
    return client;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.all.splice(0).map((c) => c.close().catch(() => {})));
  }
}

/** Polls `check` until it returns a truthy value or the deadline passes (then throws `what`). */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let delayMs = 2; ; delayMs = Math.min(delayMs * 2, 50)) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delayMs));
  }
}

/** Children of a path, or [] when it does not exist. */
export async function childrenOf(client: ConclaveClient, path: string): Promise<string[]> {
  try {
    return (await client.getChildren(path)).children;
  } catch (err) {
    if ((err as { code?: string }).code === 'NONODE') return [];
    throw err;
  }
}

/**
 * A TCP proxy in front of the server, so a test can cut one client's connection (the server
 * sees a dead socket, the client sees SUSPENDED) without touching the client's internals.
 */
export class CuttableProxy {
  readonly #sockets = new Set<net.Socket>();
  #cut = false;
  readonly #server: net.Server;

  private constructor(server: net.Server) {
    this.#server = server;
  }

  static async start(targetPort: number): Promise<CuttableProxy> {
    let self!: CuttableProxy;
    const server = net.createServer((inbound) => {
      if (self.#cut) {
        inbound.destroy();
        return;
      }
      const outbound = net.connect(targetPort, '127.0.0.1');
      for (const s of [inbound, outbound]) {
        self.#sockets.add(s);
        s.on('close', () => self.#sockets.delete(s));
        s.on('error', () => {});
      }
      inbound.pipe(outbound);
      outbound.pipe(inbound);
      inbound.on('close', () => outbound.destroy());
      outbound.on('close', () => inbound.destroy());
    });
    self = new CuttableProxy(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return self;
  }

  get connectString(): string {
    const addr = this.#server.address() as net.AddressInfo;
    return `127.0.0.1:${addr.port}`;
  }

  /** Drops every connection and refuses new ones until restore(). */
  cut(): void {
    this.#cut = true;
    for (const s of this.#sockets) s.destroy();
  }

  restore(): void {
    this.#cut = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** Wraps a client so that every watch it fires for the recipes is counted (the herd check). */
export function countingWatches(
  client: ConclaveClient,
  counter: { fired: number; armed: number },
): ConclaveClient {
  const wrapOpts = <O extends { watch?: (e: never) => void }>(opts: O | undefined): O | undefined => {
    if (opts?.watch === undefined) return opts;
    const watch = opts.watch as (e: unknown) => void;
    counter.armed++;
    return {
      ...opts,
      watch: (e: unknown) => {
        counter.fired++;
        watch(e);
      },
    };
  };
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'exists' || prop === 'getChildren' || prop === 'getData') {
        const method = Reflect.get(target, prop, target) as (p: string, o?: object) => Promise<unknown>;
        return (path: string, opts?: { watch?: (e: never) => void }) =>
          method.call(target, path, wrapOpts(opts));
      }
      const value = Reflect.get(target, prop, receiver === target ? target : target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
