import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ConnectResponse,
  decodeFrame,
  encodeFrame,
  PROTOCOL_VERSION,
  type Request,
  type WatchedEvent,
  Xid,
} from '@conclave/core';
import { afterAll, beforeAll } from 'vitest';
import WebSocket from 'ws';
import { type Server, type ServerOptions, startServer } from '../../src/index.js';

/**
 * A tiny test-only wire client: raw ws + the core codec, so server tests exercise the real
 * protocol without depending on @conclave/client.
 */

export type Frame = Record<string, unknown> & { xid: number; zxid: bigint; err: number };

export async function tempDir(
  prefix = 'conclave-server-',
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Waits until `cond` holds, polling; fails after `timeoutMs`. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export class WireClient {
  readonly frames: Frame[] = [];
  readonly events: WatchedEvent[] = [];
  /** Every frame in arrival order (responses and notifications), for ordering checks. */
  readonly log: Frame[] = [];
  connect: ConnectResponse | null = null;
  closed: { code: number; reason: string } | null = null;
  private nextXid = 1;
  private waiters = new Map<number, (f: Frame) => void>();
  private connectWaiter: ((r: ConnectResponse) => void) | null = null;
  private closeWaiters: ((c: { code: number; reason: string }) => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const value = decodeFrame(new Uint8Array(data)) as Frame;
      if (this.connect === null && 'protocolVersion' in value) {
        this.connect = value as unknown as ConnectResponse;
        this.connectWaiter?.(this.connect);
        return;
      }
      this.log.push(value);
      if (value.xid === Xid.NOTIFICATION) {
        const ev = value.event as { type: WatchedEvent['type']; path: string };
        this.events.push({ type: ev.type, path: ev.path, zxid: value.zxid });
        return;
      }
      this.frames.push(value);
      const w = this.waiters.get(value.xid);
      if (w) {
        this.waiters.delete(value.xid);
        w(value);
      }
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      for (const w of this.closeWaiters) w(this.closed);
      for (const [xid, w] of this.waiters) w({ xid, zxid: 0n, err: -4, closed: true });
      this.waiters.clear();
    });
    ws.on('error', () => {});
  }

  /** Opens a socket without the connect handshake. */
  static open(url: string): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const c = new WireClient(ws);
      ws.once('open', () => resolve(c));
      ws.once('error', reject);
    });
  }

  /** Opens a socket and creates (or resumes) a session. */
  static async session(
    url: string,
    opts: { timeoutMs?: number; sessionId?: bigint; password?: Uint8Array; lastZxidSeen?: bigint } = {},
  ): Promise<WireClient> {
    const c = await WireClient.open(url);
    const r = await c.handshake(opts);
    if (r.err !== 0) throw new Error(`connect failed: ${r.err}`);
    return c;
  }

  handshake(
    opts: { timeoutMs?: number; sessionId?: bigint; password?: Uint8Array; lastZxidSeen?: bigint } = {},
  ): Promise<ConnectResponse> {
    const p = new Promise<ConnectResponse>((resolve, reject) => {
      this.connectWaiter = resolve;
      this.onClose().then((c) => reject(new Error(`closed during connect: ${c.code} ${c.reason}`)));
    });
    this.sendRaw(
      encodeFrame({
        protocolVersion: PROTOCOL_VERSION,
        lastZxidSeen: opts.lastZxidSeen ?? 0n,
        timeoutMs: opts.timeoutMs ?? 10_000,
        sessionId: opts.sessionId ?? 0n,
        password: opts.password ?? new Uint8Array(0),
        readOnly: false,
      }),
    );
    return p;
  }

  get sessionId(): bigint {
    return this.connect!.sessionId;
  }

  sendRaw(bytes: Uint8Array | Buffer | string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes);
  }

  /** Sends a request; resolves with its response frame. */
  request(req: Request, xid?: number): Promise<Frame> {
    const id =
      xid ??
      (req.op === 'ping'
        ? Xid.PING
        : req.op === 'auth'
          ? Xid.AUTH
          : req.op === 'setWatches'
            ? Xid.SET_WATCHES
            : this.nextXid++);
    const p = new Promise<Frame>((resolve) => this.waiters.set(id, resolve));
    this.sendRaw(encodeFrame({ xid: id, ...req }));
    return p;
  }

  onClose(): Promise<{ code: number; reason: string }> {
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  /** Drops the socket without closing the session. */
  async drop(): Promise<void> {
    this.ws.terminate();
    await this.onClose();
  }

  async closeSession(): Promise<Frame> {
    const r = await this.request({ op: 'closeSession' });
    await this.onClose();
    return r;
  }
}

export const te = new TextEncoder();
export const td = new TextDecoder();
export const OPEN = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];

export function create(path: string, data = '', mode = 0, extra: Record<string, unknown> = {}): Request {
  return { op: 'create', path, data: te.encode(data), acl: OPEN, mode, ...extra } as Request;
}

/**
 * One server for a describe block: started on a fresh temp dir in `beforeAll`, closed and the dir
 * removed in `afterAll` (after the block's own `afterAll` hooks, vitest running them as a stack).
 * Call inside `describe`; read `server` and `url` only inside hooks and tests.
 */
export function serverPerSuite(opts: Omit<ServerOptions, 'dataDir'>): {
  readonly server: Server;
  readonly url: string;
} {
  let server: Server | undefined;
  let remove: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const t = await tempDir();
    remove = t.remove;
    server = await startServer({ dataDir: t.dir, ...opts });
  });
  afterAll(async () => {
    await server?.close();
    await remove?.();
  });
  const running = (): Server => {
    if (server === undefined)
      throw new Error('serverPerSuite: the server starts in beforeAll; use it inside a test');
    return server;
  };
  return {
    get server() {
      return running();
    },
    get url() {
      return `ws://${running().connectString}/`;
    },
  };
}
