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
import { type Server, startServer } from '@conclave/server';
import { type ConclaveClient, type ConnectOptions, connect } from '../src/index.js';

/** Options of startServer the tests vary. */
export interface TestServerOptions {
  tickMs?: number;
  minSessionTimeoutMs?: number;
  maxSessionTimeoutMs?: number;
  maxFrameBytes?: number;
  superDigest?: string;
}

/**
 * A real standalone server on 127.0.0.1, port 0, in a temp data dir (fsync off: durability is not
 * what these tests are about). `restart()` closes it and starts a new one on the same dir and port.
 */
export class TestServer {
  server: Server;
  readonly dataDir: string;
  private readonly opts: TestServerOptions;
  private readonly clients: ConclaveClient[] = [];

  private constructor(server: Server, dataDir: string, opts: TestServerOptions) {
    this.server = server;
    this.dataDir = dataDir;
    this.opts = opts;
  }

  static async start(opts: TestServerOptions = {}): Promise<TestServer> {
    const dataDir = await mkdtemp(join(tmpdir(), 'conclave-client-test-'));
    const server = await startServer({ dataDir, fsync: false, ...opts });
    return new TestServer(server, dataDir, opts);
  }

  get connectString(): string {
    return this.server.connectString;
  }

  /** A client that stop() closes. */
  async client(suffix = '', opts: ConnectOptions = {}): Promise<ConclaveClient> {
    const c = await connect(this.connectString + suffix, { sessionTimeoutMs: 10_000, ...opts });
    this.clients.push(c);
    return c;
  }

  async restart(between?: () => Promise<unknown>): Promise<void> {
    const port = this.server.port;
    await this.server.close();
    await between?.();
    this.server = await startServer({ dataDir: this.dataDir, fsync: false, port, ...this.opts });
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.clients.map((c) => c.close()));
    await this.server.close();
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
