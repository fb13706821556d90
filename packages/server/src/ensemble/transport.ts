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
  /**
   * Largest frame between members. SNAPs travel as bounded chunks (see {@link stream}); the largest
   * frames are proposals of big multi txns. Default 256 MiB.
   */
  maxFrameBytes?: number;
  /**
   * Bytes queued for one peer in its socket before it is treated as dead and dropped. Default
   * 64 MiB. What waits behind a stream has a separate, larger bound ({@link BEHIND_STREAM_FACTOR}×).
   */
  maxQueuedBytes?: number;
  /** Reconnect backoff bounds. Defaults 20 ms and 1000 ms. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * Messages sent to a peer while a stream (its sync: a SNAP or a DIFF read from the log) is being
 * sent wait behind it, up to this many times `maxQueuedBytes`. Under sustained write load the
 * leader keeps proposing to a syncing learner for as long as its SNAP takes, so a bound equal to
 * the socket's would drop the link before a large snapshot finishes — then re-SNAP, forever.
 * ZooKeeper's LearnerHandler queues those packets without bound while it syncs; this keeps a
 * bound (memory) but a generous one, which only a learner far slower than the write rate hits.
 */
export const BEHIND_STREAM_FACTOR = 4;

interface Link {
  ws: WebSocket;
  open: boolean;
  /**
   * Set while a stream is being sent on this link: what is sent meanwhile waits here, in order
   * (encoded frames, or further streams), so the peer sees everything in send order.
   */
  backlog: Array<Uint8Array | Iterator<QuorumMessage> | AsyncIterator<QuorumMessage>> | null;
  backlogBytes: number;
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
 *
 * Bulk data (a learner's sync stream: SNAP chunks, a DIFF read from the log) goes through
 * {@link stream}: frames are produced and written as the socket drains, so a stream of any size
 * never fills the socket buffer nor trips the queue bound; messages sent meanwhile wait behind it
 * (bounded by {@link BEHIND_STREAM_FACTOR} × `maxQueuedBytes`). A stream the sender no longer
 * wants is abandoned with {@link cancelStreams}.
 */
export class QuorumTransport {
  private readonly links = new Map<number, Link>();
  private readonly backoff = new Map<number, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private server: WebSocketServer | null = null;
  private closed = false;
  private readonly limits: DecodeLimits;
  private readonly maxQueuedBytes: number;
  /** Bound of what waits behind a stream (see {@link BEHIND_STREAM_FACTOR}). */
  private readonly maxBehindStreamBytes: number;
  /** Messages dropped because no connection was open or the peer was too slow. */
  dropped = 0;

  constructor(private readonly opts: QuorumTransportOptions) {
    const maxBytes = opts.maxFrameBytes ?? 256 * 1024 * 1024;
    // Entries carry ACL lists and multi ops: allow more elements than a client frame.
    this.limits = {
      ...DEFAULT_DECODE_LIMITS,
      maxBytes,
      maxElements: Math.max(DEFAULT_DECODE_LIMITS.maxElements, 1 << 24),
    };
    this.maxQueuedBytes = opts.maxQueuedBytes ?? 64 * 1024 * 1024;
    this.maxBehindStreamBytes = BEHIND_STREAM_FACTOR * this.maxQueuedBytes;
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
    const link = this.openLink(to, msg);
    if (link === undefined) return;
    if (link.backlog !== null) {
      // Behind a stream: hold it, under the larger behind-stream bound.
      const frame = encodeFrame(msg);
      link.backlogBytes += frame.length;
      if (link.backlogBytes > this.maxBehindStreamBytes) {
        this.tooSlow(to, link, link.backlogBytes);
        return;
      }
      link.backlog.push(frame);
      return;
    }
    if (link.ws.bufferedAmount > this.maxQueuedBytes) {
      this.tooSlow(to, link, link.ws.bufferedAmount);
      return;
    }
    link.ws.send(encodeFrame(msg), { binary: true });
  }

  /**
   * Sends `frames` to `to`, in order with everything sent to it before and after: frames are
   * pulled (a lazy iterable is consumed at the pace of the network) only while the socket holds
   * less than a quarter of `maxQueuedBytes` (at most 4 MiB), and later {@link send}s wait behind
   * the stream. Nothing
   * is sent when no connection is open; if the connection breaks mid-way, the rest is dropped
   * (the peer sees a broken stream, as with any lost message).
   */
  stream(to: number, frames: Iterable<QuorumMessage> | AsyncIterable<QuorumMessage>): void {
    const link = this.openLink(to, undefined);
    if (link === undefined) return;
    const it = Symbol.asyncIterator in frames ? frames[Symbol.asyncIterator]() : frames[Symbol.iterator]();
    if (link.backlog !== null) {
      link.backlog.push(it);
      return;
    }
    link.backlog = [it];
    void this.drainBacklog(to, link);
  }

  /**
   * Abandons what is being streamed to `peer` and everything waiting behind it: the streams'
   * iterators are closed (return()), queued frames dropped; the connection stays up and later
   * sends go out at once. For a sync the leader gave up on (the learner was dropped, started over
   * with a new FOLLOWERINFO, or this member stopped leading): left running, the stale stream would
   * hold everything later to that peer (NEWEPOCH, votes) behind a snapshot nobody wants. Returns
   * the number of streams abandoned.
   */
  cancelStreams(peer: number): number {
    const link = this.links.get(peer);
    return link === undefined ? 0 : this.dropBacklog(link);
  }

  /** {@link cancelStreams} for every peer. */
  cancelAllStreams(): number {
    let n = 0;
    for (const link of this.links.values()) n += this.dropBacklog(link);
    return n;
  }

  /**
   * Breaks the connection with `peer` (it reconnects; to ZAB that is a TCP reset): for a peer whose
   * stream turned out corrupt, so that nothing more of it is read.
   */
  disconnect(peer: number): void {
    const link = this.links.get(peer);
    if (link === undefined) return;
    // Uninstalled now, not at 'close': frames the socket already buffered are then ignored.
    this.uninstall(peer, link);
    link.ws.terminate();
  }

  private dropBacklog(link: Link): number {
    const jobs = link.backlog;
    link.backlog = null;
    link.backlogBytes = 0;
    if (jobs === null) return 0;
    let streams = 0;
    for (const job of jobs) {
      if (job instanceof Uint8Array) continue;
      streams++;
      // Lets a generator release what it holds (a snapshot image, an open log segment). An async
      // one busy producing a frame closes once that frame is done.
      try {
        void Promise.resolve(job.return?.()).catch(() => {});
      } catch {
        // A sync generator being run right now: the drain loop stops pulling from it anyway.
      }
    }
    return streams;
  }

  private openLink(to: number, msg: QuorumMessage | undefined): Link | undefined {
    const link = this.links.get(to);
    if (link === undefined || !link.open || link.ws.readyState !== WebSocket.OPEN) {
      this.dropped++;
      this.opts.log.debug(
        { to, kind: msg?.kind ?? 'stream', type: msg?.kind === 'zab' ? msg.msg.type : undefined },
        'dropped: no connection',
      );
      return undefined;
    }
    return link;
  }

  private tooSlow(peer: number, link: Link, queued: number): void {
    // A peer this far behind is treated as gone; it reconnects and ZAB re-syncs it.
    this.opts.log.warn({ peer, queued }, 'peer too slow; dropping connection');
    this.dropped++;
    this.dropBacklog(link);
    link.ws.terminate();
  }

  /** Sends the link's backlog in order, streams frame by frame, until it is empty (or the link is gone). */
  private async drainBacklog(peer: number, link: Link): Promise<void> {
    // This drain owns this backlog only: once it is dropped (cancelStreams, a broken link) a later
    // stream starts a new backlog with its own drain, which this one must not touch.
    const backlog = link.backlog;
    const alive = () =>
      link.open && link.backlog === backlog && this.links.get(peer) === link && !this.closed;
    // Pacing: keep writing while the socket holds little; past this, wait for the kernel to take it.
    const lowWaterBytes = Math.min(this.maxQueuedBytes / 4, 4 * 1024 * 1024);
    let failed = false;
    try {
      while (alive() && link.backlog!.length > 0) {
        const job = link.backlog![0] as NonNullable<Link['backlog']>[number];
        if (job instanceof Uint8Array) {
          link.backlog!.shift();
          link.backlogBytes -= job.length;
          link.ws.send(job, { binary: true });
          continue;
        }
        const next = await job.next();
        if (!alive()) break;
        if (next.done === true) {
          link.backlog!.shift();
          continue;
        }
        const frame = encodeFrame(next.value);
        const written = new Promise<Error | undefined>((resolve) =>
          link.ws.send(frame, { binary: true }, (e) => resolve(e ?? undefined)),
        );
        if (link.ws.bufferedAmount > lowWaterBytes && (await written) !== undefined) {
          failed = true; // the connection broke: 'close' cleans up
          break;
        }
      }
    } catch (err) {
      // A frame that cannot be produced (e.g. the log could not be read) or encoded: the peer can
      // never get a consistent stream; it reconnects and is synced again. A stream abandoned
      // meanwhile (cancelStreams) is nobody's concern any more: the link may carry a new one.
      if (alive()) {
        this.opts.log.warn({ err, peer }, 'stream to peer failed; dropping connection');
        failed = true;
      }
    } finally {
      if (failed) link.ws.terminate();
      if (link.backlog === backlog && (failed || backlog!.length === 0 || !alive())) this.dropBacklog(link);
    }
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
    const link: Link = { ws, open: false, backlog: null, backlogBytes: 0 };
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
    const link: Link = { ws, open: false, backlog: null, backlogBytes: 0 };
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
    this.dropBacklog(link);
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
