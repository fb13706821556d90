import {
  CloseCode,
  type ConnectRequest,
  type ConnectResponse,
  ConnectionLossError,
  DEFAULT_DECODE_LIMITS,
  type DecodeLimits,
  decodeFrame,
  encodeFrame,
  type NotificationFrame,
  ThrottledOpError,
  Xid,
} from '@conclave/core';
import WebSocket from 'ws';
import { formatMember, type Member } from './connect-string.js';

/**
 * One WebSocket to one member, for one attempt at a session: the frame codec, the ping and read
 * timers, and the table of outstanding requests. It knows nothing about sessions, state or watches;
 * it reports frames and its end to its owner (session.ts) and never reconnects by itself.
 *
 * Life: `open()` sends the connect frame and resolves with the server's ConnectResponse; from then
 * on requests flow until the socket ends, at which point every outstanding request fails with
 * ConnectionLossError (the server may or may not have applied it: ZooKeeper semantics) and
 * `onClose` is called exactly once.
 */

/** A decoded response frame: header plus the op's result fields. */
export interface ResponseFrame {
  xid: number;
  zxid: bigint;
  err: number;
  [field: string]: unknown;
}

export interface ConnectionHandlers {
  /** A watch notification (xid -1), in frame order. */
  onNotification(frame: NotificationFrame): void;
  /** The zxid a response or notification carried (only when > 0). */
  onZxid(zxid: bigint): void;
  /** The established connection ended; called once, after every outstanding request failed. */
  onClose(info: CloseInfo): void;
}

export interface CloseInfo {
  /** The WebSocket close code (1006 for an abrupt end, ours for a local close). */
  code: number;
  reason: string;
}

export interface ConnectionOptions {
  member: Member;
  connectRequest: ConnectRequest;
  /** Bound on the WebSocket handshake plus the connect frame round trip. */
  connectTimeoutMs: number;
  /** Largest frame we send or accept. */
  maxFrameBytes: number;
  /** Requests on the wire at once; more wait in a queue (FIFO order is kept). */
  maxOutstandingRequests: number;
  /** Requests that may wait for a slot; over this, calls fail with ThrottledOpError. */
  maxQueuedRequests: number;
}

/** Why a connect attempt failed; `closeCode` is the server's WebSocket close code when it sent one. */
export class ConnectAttemptError extends ConnectionLossError {
  readonly closeCode: number | undefined;
  constructor(message: string, closeCode?: number) {
    super(message);
    this.closeCode = closeCode;
  }
}

/** Local close codes (WebSocket application range), used in messages and onClose. */
export const LocalCloseCode = {
  NORMAL: 1000,
  READ_TIMEOUT: 4100,
  PROTOCOL_ERROR: 4101,
  ABANDONED: 4102,
} as const;

interface Outstanding {
  xid: number;
  bytes: Uint8Array;
  resolve(frame: ResponseFrame): void;
  reject(err: unknown): void;
  /** Set once the caller's signal aborted: the caller is gone, the slot stays taken until the reply. */
  settled: boolean;
  detach(): void;
}

const PING_FRAME = encodeFrame({ xid: Xid.PING, op: 'ping' });

function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

export class Connection {
  readonly member: Member;
  /** Resolves with the server's answer to the connect frame; rejects with ConnectAttemptError. */
  readonly ready: Promise<ConnectResponse>;
  /** The timeout the server granted (set once ready). */
  negotiatedTimeoutMs = 0;

  private readonly ws: WebSocket;
  private readonly opts: ConnectionOptions;
  private readonly handlers: ConnectionHandlers;
  private phase: 'connecting' | 'open' | 'closed' = 'connecting';
  private readonly pending = new Map<number, Outstanding>();
  /** Auth and setWatches replies share a special xid each; they are matched in send order. */
  private readonly special = new Map<number, Outstanding[]>();
  private readonly waiting: Outstanding[] = [];
  private resolveReady!: (r: ConnectResponse) => void;
  private rejectReady!: (e: unknown) => void;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private lastSendMs = 0;
  private lastRecvMs = 0;
  private readTimeoutMs = 0;
  private pingAfterMs = 0;
  private socketError: Error | undefined;
  private corked = false;
  private readonly decodeLimits: DecodeLimits;

  constructor(opts: ConnectionOptions, handlers: ConnectionHandlers) {
    this.opts = opts;
    this.decodeLimits = { ...DEFAULT_DECODE_LIMITS, maxBytes: opts.maxFrameBytes };
    this.member = opts.member;
    this.handlers = handlers;
    this.ready = new Promise<ConnectResponse>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // The owner may abandon an attempt (close) before anyone awaits `ready`.
    this.ready.catch(() => {});
    this.ws = new WebSocket(`ws://${formatMember(opts.member)}/`, {
      maxPayload: opts.maxFrameBytes,
      perMessageDeflate: false,
      handshakeTimeout: opts.connectTimeoutMs,
      // RFC 6455 masking protects intermediaries from frames crafted by untrusted scripts in a
      // browser; this client runs no such code, so an all-zero key (still a valid mask) lets ws skip
      // copying and XOR-ing every request, and the server skip unmasking it.
      generateMask: zeroMask,
    });
    this.ws.binaryType = 'nodebuffer';
    this.connectTimer = setTimeout(
      () =>
        this.abort(
          LocalCloseCode.READ_TIMEOUT,
          `no answer to the connect frame within ${opts.connectTimeoutMs} ms`,
        ),
      opts.connectTimeoutMs,
    );
    this.ws.on('open', () => this.write(encodeFrame(opts.connectRequest)));
    this.ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    this.ws.on('error', (err) => {
      // 'close' always follows; keep the cause for its message.
      this.socketError = err;
    });
    this.ws.on('close', (code, reason) =>
      this.finish(code, reason.toString() || this.socketError?.message || ''),
    );
  }

  get isOpen(): boolean {
    return this.phase === 'open';
  }

  /** Requests on the wire plus those waiting for a slot. */
  get outstandingCount(): number {
    let n = this.pending.size + this.waiting.length;
    for (const q of this.special.values()) n += q.length;
    return n;
  }

  /**
   * Sends an encoded request frame with the given xid and resolves with its response frame (whatever
   * its `err`). Rejects with ConnectionLossError when the connection ends first, with the signal's
   * reason when it aborts (a late response is then dropped), or ThrottledOpError when the queue is full.
   * `onReply` runs synchronously when the response arrives (not after an abort).
   */
  submit(
    xid: number,
    bytes: Uint8Array,
    signal?: AbortSignal,
    onReply?: (frame: ResponseFrame) => void,
  ): Promise<ResponseFrame> {
    return new Promise<ResponseFrame>((resolve, reject) => {
      if (this.phase !== 'open') {
        reject(this.lossError());
        return;
      }
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const entry: Outstanding = {
        xid,
        bytes,
        settled: false,
        resolve: (frame) => {
          if (entry.settled) return;
          entry.settled = true;
          entry.detach();
          try {
            // Runs in frame order, before any later frame is dispatched: a watch registered here
            // cannot miss the notification that follows its response.
            onReply?.(frame);
          } catch (err) {
            reject(err);
            return;
          }
          resolve(frame);
        },
        reject: (err) => {
          if (entry.settled) return;
          entry.settled = true;
          entry.detach();
          reject(err);
        },
        detach: () => {},
      };
      if (signal) {
        const onAbort = () => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1); // never sent: frees nothing on the server
          entry.reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        entry.detach = () => signal.removeEventListener('abort', onAbort);
      }
      if (xid < 0) {
        let q = this.special.get(xid);
        if (!q) this.special.set(xid, (q = []));
        q.push(entry);
        this.write(bytes);
      } else if (this.pending.size < this.opts.maxOutstandingRequests && this.waiting.length === 0) {
        this.send(entry);
      } else if (this.waiting.length < this.opts.maxQueuedRequests) {
        this.waiting.push(entry);
      } else {
        entry.reject(
          new ThrottledOpError(
            `the client already has ${this.pending.size} requests outstanding and ${this.waiting.length} queued ` +
              '(maxOutstandingRequests/maxQueuedRequests): await some before issuing more',
          ),
        );
      }
    });
  }

  /** Ends the connection now: outstanding requests fail with ConnectionLossError, onClose is called. */
  close(code: number = LocalCloseCode.NORMAL, reason = 'closed by the client'): void {
    this.abort(code, reason);
  }

  private abort(code: number, reason: string): void {
    if (this.phase === 'closed') return;
    this.finish(code, reason);
    try {
      if (this.ws.readyState === WebSocket.OPEN && code === LocalCloseCode.NORMAL) {
        this.ws.close(code, reason.slice(0, 120));
        // A server that never answers the close handshake must not keep the socket alive.
        setTimeout(() => this.ws.terminate(), 1000).unref();
      } else {
        this.ws.terminate();
      }
    } catch {
      // terminate() on a socket that never connected can throw; it is gone either way.
    }
  }

  private send(entry: Outstanding): void {
    if (this.pending.has(entry.xid)) throw new Error(`invariant: xid ${entry.xid} is already outstanding`);
    this.pending.set(entry.xid, entry);
    this.write(entry.bytes);
  }

  private write(bytes: Uint8Array): void {
    this.lastSendMs = performance.now();
    this.cork();
    this.ws.send(bytes, { binary: true });
  }

  /**
   * Holds the socket's writes until the current burst of work is over, so the requests issued in
   * one turn (e.g. the C follow-ups a chunk of C responses unblocks) leave in one writev instead of
   * one syscall and one TCP segment each, which also lets the server read them in one go. The
   * uncork is a nextTick: it runs once the microtasks that issue those requests have drained, so a
   * lone request is not delayed.
   */
  private cork(): void {
    if (this.corked) return;
    const socket = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    if (socket === undefined) return;
    socket.cork();
    this.corked = true;
    process.nextTick(() => {
      this.corked = false;
      socket.uncork();
    });
  }

  private pump(): void {
    while (this.waiting.length > 0 && this.pending.size < this.opts.maxOutstandingRequests) {
      this.send(this.waiting.shift()!);
    }
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.phase === 'closed') return;
    this.lastRecvMs = performance.now();
    if (!isBinary) {
      this.abort(LocalCloseCode.PROTOCOL_ERROR, 'the server sent a text message; frames are binary CBOR');
      return;
    }
    let frame: unknown;
    try {
      frame = decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), this.decodeLimits);
    } catch (err) {
      this.abort(
        LocalCloseCode.PROTOCOL_ERROR,
        `undecodable frame from the server: ${(err as Error).message}`,
      );
      return;
    }
    if (typeof frame !== 'object' || frame === null) {
      this.abort(LocalCloseCode.PROTOCOL_ERROR, 'the server sent a frame that is not a map');
      return;
    }
    if (this.phase === 'connecting') {
      this.onConnectResponse(frame as Record<string, unknown>);
      return;
    }
    const f = frame as ResponseFrame;
    if (typeof f.xid !== 'number' || typeof f.err !== 'number') {
      this.abort(LocalCloseCode.PROTOCOL_ERROR, 'the server sent a frame without a numeric xid and err');
      return;
    }
    if (f.xid === Xid.PING) return;
    if (f.xid === Xid.NOTIFICATION) {
      if (typeof f.zxid === 'bigint' && f.zxid > 0n) this.handlers.onZxid(f.zxid);
      this.handlers.onNotification(f as unknown as NotificationFrame);
      return;
    }
    if (f.xid < 0) {
      const entry = this.special.get(f.xid)?.shift();
      if (f.xid === Xid.SET_WATCHES && typeof f.zxid === 'bigint' && f.zxid > 0n)
        this.handlers.onZxid(f.zxid);
      entry?.resolve(f);
      return;
    }
    if (typeof f.zxid === 'bigint' && f.zxid > 0n) this.handlers.onZxid(f.zxid);
    const entry = this.pending.get(f.xid);
    if (entry === undefined) return; // nothing we sent: ignore, as a late reply would be
    this.pending.delete(f.xid);
    entry.resolve(f); // a no-op when the caller aborted
    this.pump();
  }

  private onConnectResponse(r: Record<string, unknown>): void {
    if (
      typeof r.timeoutMs !== 'number' ||
      typeof r.sessionId !== 'bigint' ||
      typeof r.err !== 'number' ||
      !(r.password instanceof Uint8Array)
    ) {
      this.abort(LocalCloseCode.PROTOCOL_ERROR, 'malformed connect response from the server');
      return;
    }
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    const response: ConnectResponse = {
      protocolVersion: typeof r.protocolVersion === 'number' ? r.protocolVersion : 0,
      timeoutMs: r.timeoutMs,
      sessionId: r.sessionId,
      password: new Uint8Array(r.password),
      readOnly: r.readOnly === true,
      err: r.err,
    };
    this.phase = 'open';
    if (response.err === 0) this.startHeartbeat(response.timeoutMs);
    this.resolveReady(response);
  }

  /**
   * ZooKeeper's timers: ping when nothing was sent for a third of the session timeout, and declare
   * the connection dead when nothing arrived for two thirds of it (the read timeout), leaving the
   * last third to reconnect elsewhere before the server expires the session.
   */
  private startHeartbeat(timeoutMs: number): void {
    this.negotiatedTimeoutMs = timeoutMs;
    this.readTimeoutMs = Math.max(1, Math.floor((timeoutMs * 2) / 3));
    this.pingAfterMs = Math.max(1, Math.floor(timeoutMs / 3));
    this.lastRecvMs = performance.now();
    const checkEveryMs = Math.min(1000, Math.max(10, Math.floor(timeoutMs / 12)));
    this.heartbeat = setInterval(() => this.checkHeartbeat(), checkEveryMs);
    this.heartbeat.unref();
  }

  private checkHeartbeat(): void {
    if (this.phase !== 'open') return;
    const now = performance.now();
    if (now - this.lastRecvMs >= this.readTimeoutMs) {
      this.abort(
        LocalCloseCode.READ_TIMEOUT,
        `no frame from ${formatMember(this.member)} for ${Math.round(now - this.lastRecvMs)} ms (read timeout ${this.readTimeoutMs} ms)`,
      );
      return;
    }
    if (now - this.lastSendMs >= this.pingAfterMs) this.write(PING_FRAME);
  }

  private lossError(reason?: string): ConnectionLossError {
    return new ConnectionLossError(
      `the connection to ${formatMember(this.member)} was lost${reason ? ` (${reason})` : ''}; the request may or may not have been applied`,
    );
  }

  private finish(code: number, reason: string): void {
    if (this.phase === 'closed') return;
    const wasOpen = this.phase === 'open';
    this.phase = 'closed';
    clearTimeout(this.connectTimer);
    clearInterval(this.heartbeat);
    if (!wasOpen) {
      const text = reason || describeCloseCode(code);
      this.rejectReady(
        new ConnectAttemptError(
          `cannot connect to ${formatMember(this.member)}: ${text} (close code ${code})`,
          code,
        ),
      );
      return;
    }
    const err = this.lossError(reason || describeCloseCode(code));
    const all = [...this.pending.values(), ...this.waiting];
    for (const q of this.special.values()) all.push(...q);
    this.pending.clear();
    this.waiting.length = 0;
    this.special.clear();
    for (const entry of all) entry.reject(err);
    this.handlers.onClose({ code, reason: reason || describeCloseCode(code) });
  }
}

function describeCloseCode(code: number): string {
  for (const [name, value] of Object.entries(CloseCode)) if (value === code) return name;
  if (code === 1006) return 'connection dropped';
  return `close code ${code}`;
}
