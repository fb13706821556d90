import type { AddressInfo } from 'node:net';
import { DEFAULT_DECODE_LIMITS, type DecodeLimits, decodeFrame, encodeFrame } from '@conclave/core';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import type { QuorumMessage } from './messages.js';

/** Where a peer listens for quorum traffic. */
export interface PeerAddress {
  host: string;
  port: number;
}

export interface QuorumTransportOptions {
  id: number;
  /** Every other member. */
  peers: ReadonlyMap<number, PeerAddress>;
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  onMessage: (from: number, msg: QuorumMessage) => void;
  /** The connection with `peer` closed (it was open): the stream to and from it is broken. */
  onPeerDown?: (peer: number) => void;
  log: Logger;
  /** Largest frame between members (SNAP carries a whole snapshot). Default 256 MiB. */
  maxFrameBytes?: number;
  /** Bytes queued in one peer's socket before it is treated as dead and dropped. Default 64 MiB. */
  maxQueuedBytes?: number;
  /** Reconnect backoff bounds. Defaults 20 ms and 1000 ms. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

interface Link {
  ws: WebSocket;
  open: boolean;
}

/**
 * Member-to-member transport: one ws connection per pair of members (the member with the larger
 * id dials, the other accepts, as ZooKeeper's QuorumCnxManager keeps one connection per pair),
 * binary CBOR frames, FIFO per peer (one TCP stream). The dialer reconnects with bounded
 * exponential backoff.
 *
 * A message for a peer without an open connection, or whose socket buffer is over its bound, is
 * dropped: to ZAB that is message loss, which it handles (timeouts, sequence gaps → re-sync).
 * Queuing across a reconnect would instead deliver a stale stream on a new connection.
 */
export class QuorumTransport {
  private readonly links = new Map<number, Link>();
  private readonly backoff = new Map<number, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private server: WebSocketServer | null = null;
  private closed = false;
  private readonly limits: DecodeLimits;
  private readonly maxQueuedBytes: number;
  /** Messages dropped because no connection was open or the peer was too slow. */
  dropped = 0;

  constructor(private readonly opts: QuorumTransportOptions) {
    const maxBytes = opts.maxFrameBytes ?? 256 * 1024 * 1024;
    // Snapshots are arrays of chunks and entries carry ACL lists: allow more elements than a client frame.
    this.limits = {
      ...DEFAULT_DECODE_LIMITS,
      maxBytes,
      maxElements: Math.max(DEFAULT_DECODE_LIMITS.maxElements, 1 << 24),
    };
    this.maxQueuedBytes = opts.maxQueuedBytes ?? 64 * 1024 * 1024;
  }

  /** The quorum port actually bound. */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  /** Binds the quorum port and starts dialing the peers with smaller ids. */
  async start(): Promise<void> {
    const server = new WebSocketServer({
      host: this.opts.host,
      port: this.opts.port,
      maxPayload: this.limits.maxBytes,
      perMessageDeflate: false,
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('listening', () => resolve());
      server.once('error', reject);
    });
    server.on('error', (err) => this.opts.log.error({ err }, 'quorum listener error'));
    server.on('connection', (ws) => this.accept(ws));
    for (const peer of this.opts.peers.keys()) if (peer < this.opts.id) this.dial(peer);
  }

  /** Sends to `to` in order with everything sent to it before; dropped when no connection is open. */
  send(to: number, msg: QuorumMessage): void {
    const link = this.links.get(to);
    if (link === undefined || !link.open || link.ws.readyState !== WebSocket.OPEN) {
      this.dropped++;
      this.opts.log.debug(
        { to, kind: msg.kind, type: msg.kind === 'zab' ? msg.msg.type : undefined },
        'dropped: no connection',
      );
      return;
    }
    if (link.ws.bufferedAmount > this.maxQueuedBytes) {
      // A peer this far behind is treated as gone; it reconnects and ZAB re-syncs it.
      this.opts.log.warn(
        { peer: to, buffered: link.ws.bufferedAmount },
        'peer too slow; dropping connection',
      );
      this.dropped++;
      link.ws.terminate();
      return;
    }
    link.ws.send(encodeFrame(msg), { binary: true });
  }

  /** Whether a connection to `peer` is open right now. */
  connected(peer: number): boolean {
    return this.links.get(peer)?.open ?? false;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const link of this.links.values()) link.ws.terminate();
    this.links.clear();
    const server = this.server;
    if (server !== null) {
      for (const ws of server.clients) ws.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  private dial(peer: number): void {
    if (this.closed) return;
    const addr = this.opts.peers.get(peer)!;
    const host = addr.host.includes(':') ? `[${addr.host}]` : addr.host;
    const ws = new WebSocket(`ws://${host}:${addr.port}/`, {
      maxPayload: this.limits.maxBytes,
      perMessageDeflate: false,
      handshakeTimeout: 2000,
    });
    const link: Link = { ws, open: false };
    ws.on('open', () => {
      if (this.closed) {
        ws.terminate();
        return;
      }
      ws.send(encodeFrame({ kind: 'hello', from: this.opts.id, to: peer } satisfies QuorumMessage), {
        binary: true,
      });
      this.backoff.delete(peer);
      this.install(peer, link);
    });
    ws.on('message', (data, isBinary) => this.receive(peer, link, data as Buffer, isBinary));
    ws.on('error', () => {}); // 'close' follows; the error is just the reason
    ws.on('close', () => {
      this.uninstall(peer, link);
      this.scheduleRedial(peer);
    });
  }

  private scheduleRedial(peer: number): void {
    if (this.closed) return;
    const min = this.opts.minBackoffMs ?? 20;
    const max = this.opts.maxBackoffMs ?? 1000;
    const delay = this.backoff.get(peer) ?? min;
    this.backoff.set(peer, Math.min(max, delay * 2));
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.dial(peer);
    }, delay);
    this.timers.add(t);
  }

  private accept(ws: WebSocket): void {
    let peer: number | undefined;
    const link: Link = { ws, open: false };
    // A connection that does not introduce itself promptly is not a member.
    const helloTimer = setTimeout(() => ws.terminate(), 5000);
    ws.on('error', () => {});
    ws.on('close', () => {
      clearTimeout(helloTimer);
      if (peer !== undefined) this.uninstall(peer, link);
    });
    ws.on('message', (data, isBinary) => {
      if (peer !== undefined) {
        this.receive(peer, link, data as Buffer, isBinary);
        return;
      }
      clearTimeout(helloTimer);
      const hello = this.decode(data as Buffer, isBinary) as QuorumMessage | undefined;
      if (
        hello === undefined ||
        hello.kind !== 'hello' ||
        hello.to !== this.opts.id ||
        !this.opts.peers.has(hello.from) ||
        hello.from <= this.opts.id
      ) {
        this.opts.log.warn({ hello }, 'refusing quorum connection: not a member that dials us');
        ws.close(4000, 'not a member of this ensemble, or wrong direction');
        return;
      }
      peer = hello.from;
      this.install(peer, link);
    });
  }

  private install(peer: number, link: Link): void {
    const old = this.links.get(peer);
    if (old !== undefined && old !== link) old.ws.terminate();
    link.open = true;
    this.links.set(peer, link);
    this.opts.log.debug({ peer }, 'quorum connection up');
  }

  private uninstall(peer: number, link: Link): void {
    link.open = false;
    if (this.links.get(peer) === link) {
      this.links.delete(peer);
      this.opts.log.debug({ peer }, 'quorum connection down');
      if (!this.closed) this.opts.onPeerDown?.(peer);
    }
  }

  private decode(data: Buffer | Buffer[] | ArrayBuffer, isBinary: boolean): unknown {
    if (!isBinary) return undefined;
    try {
      const bytes = data instanceof Buffer ? data : Buffer.concat(data as Buffer[]);
      return decodeFrame(bytes, this.limits);
    } catch (err) {
      this.opts.log.warn({ err }, 'undecodable quorum frame');
      return undefined;
    }
  }

  private receive(peer: number, link: Link, data: Buffer, isBinary: boolean): void {
    if (this.links.get(peer) !== link) return; // a replaced connection: its stream is stale
    const msg = this.decode(data, isBinary) as QuorumMessage | undefined;
    if (msg === undefined || typeof msg !== 'object' || msg === null) {
      link.ws.terminate();
      return;
    }
    this.opts.onMessage(peer, msg);
  }
}
