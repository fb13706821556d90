import { CloseCode, type Id } from '@conclave/core';
import type { WebSocket } from 'ws';

/**
 * One request waiting for its turn to be answered. Responses leave a connection in request
 * order (as in ZooKeeper): an item whose response is not ready blocks those behind it. Reads are
 * `evaluate`d only when they reach the head, so they see every earlier write of the session.
 */
export interface QueuedRequest {
  readonly xid: number;
  readonly op: string;
  /** The encoded response once known. */
  response: Uint8Array | null;
  /** Computes the response when the item reaches the head (reads, pings, watch ops). */
  evaluate: (() => Uint8Array) | null;
  /** Runs right after the response was handed to the socket (e.g. close after closeSession). */
  after: (() => void) | null;
  /** When the request arrived, for latency metrics (performance.now() ms). */
  readonly arrivedMs: number;
}

export interface ConnectionLimits {
  maxOutstandingRequests: number;
  /**
   * Soft bound on the unsent output: above it the connection stops answering queued requests and
   * stops reading the socket, and resumes when the socket drains.
   */
  maxBufferedBytes: number;
  /**
   * Hard bound on the unsent output. Notifications are not held back (they must precede the
   * responses that reveal their change), so a client that never reads can still grow the buffer
   * past the soft bound; a frame that would take it over this bound closes the connection with
   * CloseCode.SLOW_CONSUMER instead.
   */
  closeBufferedBytes: number;
}

export interface ConnectionCounters {
  packetsReceived: number;
  packetsSent: number;
  /** Requests answered and the sum/min/max of their latencies (ms). */
  answered: number;
  latencySumMs: number;
  latencyMinMs: number;
  latencyMaxMs: number;
  /** Most requests ever queued at once (bounded by maxOutstandingRequests plus one socket read). */
  peakOutstanding: number;
  /** Times reading was paused for backpressure. */
  pauses: number;
  /** Most unsent output bytes seen after a send (bounded by closeBufferedBytes). */
  peakBufferedBytes: number;
}

/** What the connection reports to the server's metrics. */
export interface ConnectionHooks {
  answered(latencyMs: number): void;
  paused(): void;
  /** The connection is being closed as a slow consumer. */
  slowConsumer(bufferedBytes: number): void;
}

let nextConnectionId = 1;

/**
 * A client connection: the ws socket, the session bound to it (once the handshake is done), the
 * identities it authenticated as, and its in-order response queue. It knows nothing about
 * requests' meaning; the pipeline fills the queue and completes items.
 *
 * Backpressure: while `maxOutstandingRequests` requests are queued, or the socket's unsent output
 * is over `maxBufferedBytes`, we stop reading from the socket (ws pause), and resume once below.
 * While the unsent output is over `maxBufferedBytes` we also stop answering: queued reads are
 * evaluated (and their responses allocated) only once the socket has drained. So a client that
 * sends requests and never reads costs at most about maxBufferedBytes plus one frame of
 * responses; notifications, which cannot wait, are capped by `closeBufferedBytes`.
 */
export class ClientConnection {
  readonly id = nextConnectionId++;
  readonly establishedAtMs = Date.now();
  /** 0n until the session is established. */
  sessionId = 0n;
  state: 'handshake' | 'connecting' | 'open' | 'closed' = 'handshake';
  readonly authIds: Id[] = [];
  readonly counters: ConnectionCounters = {
    packetsReceived: 0,
    packetsSent: 0,
    answered: 0,
    latencySumMs: 0,
    latencyMinMs: Number.POSITIVE_INFINITY,
    latencyMaxMs: 0,
    peakOutstanding: 0,
    pauses: 0,
    peakBufferedBytes: 0,
  };
  /** Last zxid the client was told about (for cons). */
  lastZxid = 0n;
  private readonly queue: QueuedRequest[] = [];
  private paused = false;
  private corked = false;

  constructor(
    readonly ws: WebSocket,
    readonly remoteAddress: string,
    readonly remotePort: number,
    private readonly limits: ConnectionLimits,
    private readonly hooks: ConnectionHooks,
  ) {
    // The socket's 'drain' tells us its unsent output is gone: time to answer and read again.
    (ws as unknown as { _socket?: NodeJS.EventEmitter })._socket?.on('drain', () => this.drain());
  }

  get outstanding(): number {
    return this.queue.length;
  }

  get isOpen(): boolean {
    return this.state !== 'closed';
  }

  /** Appends a request to the response queue. */
  enqueue(item: QueuedRequest): void {
    this.queue.push(item);
    if (this.queue.length > this.counters.peakOutstanding) this.counters.peakOutstanding = this.queue.length;
    this.updateFlow();
  }

  /** Sets a queued item's response and sends whatever became sendable. */
  complete(item: QueuedRequest, response: Uint8Array): void {
    item.response = response;
    item.evaluate = null;
    this.drain();
  }

  /**
   * Sends, in order, every response at the head of the queue that is ready (or can be evaluated
   * now), until the socket's unsent output is over maxBufferedBytes (the socket's 'drain' calls
   * this again).
   */
  drain(): void {
    while (this.state !== 'closed') {
      const head = this.queue[0];
      if (head === undefined) break;
      if (this.ws.bufferedAmount > this.limits.maxBufferedBytes) break;
      if (head.response === null && head.evaluate !== null) {
        head.response = head.evaluate();
        head.evaluate = null;
      }
      if (head.response === null) break;
      this.queue.shift();
      this.send(head.response);
      const latencyMs = performance.now() - head.arrivedMs;
      const c = this.counters;
      c.answered++;
      c.latencySumMs += latencyMs;
      if (latencyMs < c.latencyMinMs) c.latencyMinMs = latencyMs;
      if (latencyMs > c.latencyMaxMs) c.latencyMaxMs = latencyMs;
      this.hooks.answered(latencyMs);
      head.after?.();
    }
    this.updateFlow();
  }

  /**
   * Sends one frame now, outside the response order (notifications, the connect response).
   * Frames sent in the same turn of the event loop are corked into as few socket writes as possible.
   */
  send(frame: Uint8Array): void {
    if (this.state === 'closed' || this.ws.readyState !== this.ws.OPEN) return;
    const buffered = this.ws.bufferedAmount;
    if (buffered + frame.length > this.limits.closeBufferedBytes) {
      this.hooks.slowConsumer(buffered);
      // A longer grace than usual: the reason sits behind up to closeBufferedBytes of output,
      // and a client that resumes reading should still learn why it was cut off. Nothing is
      // added to the buffer meanwhile, so the memory stays bounded.
      this.close(
        CloseCode.SLOW_CONSUMER,
        `slow consumer: ${buffered} bytes unsent, limit ${this.limits.closeBufferedBytes}; read the socket`,
        10_000,
      );
      return;
    }
    this.cork();
    this.ws.send(frame, { binary: true });
    this.counters.packetsSent++;
    const after = this.ws.bufferedAmount;
    if (after > this.counters.peakBufferedBytes) this.counters.peakBufferedBytes = after;
  }

  private cork(): void {
    if (this.corked) return;
    const socket = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    if (socket === undefined) return;
    socket.cork();
    this.corked = true;
    setImmediate(() => {
      this.corked = false;
      socket.uncork();
    });
  }

  private updateFlow(): void {
    if (this.state === 'closed') return;
    const over =
      this.queue.length >= this.limits.maxOutstandingRequests ||
      this.ws.bufferedAmount > this.limits.maxBufferedBytes;
    if (over && !this.paused) {
      this.paused = true;
      this.counters.pauses++;
      this.hooks.paused();
      this.ws.pause();
    } else if (!over && this.paused) {
      this.paused = false;
      this.ws.resume();
    }
  }

  /** Bytes handed to the socket and not yet written out (ws bufferedAmount). */
  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /**
   * Closes the socket with an application close code; queued responses are dropped. The close
   * frame goes out behind whatever is still unsent; a peer that has not completed the close
   * handshake after `graceMs` is cut off.
   */
  close(code: number, reason: string, graceMs = 2000): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.queue.length = 0;
    // Read again, or the peer's half of the close handshake would never be seen (we ignore
    // anything else it sends now).
    if (this.paused) {
      this.paused = false;
      this.ws.resume();
    }
    // The close reason must fit in a control frame (123 bytes).
    let text = reason;
    while (Buffer.byteLength(text) > 123) text = text.slice(0, -1);
    try {
      this.ws.close(code, text);
    } catch {
      this.ws.terminate();
    }
    // A peer that never answers the close handshake must not hold the socket forever.
    const timer = setTimeout(() => this.ws.terminate(), graceMs);
    timer.unref();
  }

  /** Marks the connection closed after the peer went away. */
  markClosed(): void {
    this.state = 'closed';
    this.queue.length = 0;
  }
}
