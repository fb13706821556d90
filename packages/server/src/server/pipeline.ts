import { randomBytes, timingSafeEqual } from 'node:crypto';
import {
  type ACL,
  CloseCode,
  ConclaveError,
  type ConnectRequest,
  DEFAULT_DECODE_LIMITS,
  type DecodeLimits,
  decodeFrame,
  ErrorCode,
  formatZxid,
  MarshallingError,
  PROTOCOL_VERSION,
  Perms,
  type RequestFrame,
  type Txn,
  type TxnEntry,
  WRITE_OPS,
  Xid,
} from '@conclave/core';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import {
  authenticate,
  checkPerms,
  type Database,
  type Preparer,
  type WatchManager,
} from '../datatree/index.js';
import { ClientConnection, type QueuedRequest } from '../net/connection.js';
import { validateConnectRequest, validateRequestFrame } from '../net/validate.js';
import { SessionIdGenerator } from '../session/session-id.js';
import { SessionTracker } from '../session/session-tracker.js';
import { connectResponseFrame, notificationFrame, responseFrame } from './frames.js';
import type { ServerMetrics } from './metrics.js';
import { closeBufferedBytes, type ResolvedOptions } from './options.js';
import { executeRead, type ReadContext } from './reads.js';
import type { Replicator } from './replicator.js';
import { TokenSettler } from './token-settler.js';

/** A write of this member's making, waiting for its commit. */
interface PendingWrite {
  cxid: number;
  /** Preparer token to settle once applied. */
  token: number;
  onCommit: (entry: TxnEntry, err: number, result: object | undefined) => void;
}

/** Frames that arrive while the session is being created wait here, bounded by maxOutstandingRequests. */
interface Handshaking {
  early: Uint8Array[];
}

/**
 * The request pipeline of ARCHITECTURE.md "Write path": frames in, session handling, prep →
 * propose → (durable, committed) → apply → watches → responses. One instance per member. It
 * never touches the disk or the network directly: the Replicator orders and persists, the
 * ClientConnection sends.
 */
export class RequestPipeline {
  readonly connections = new Set<ClientConnection>();
  readonly bySession = new Map<bigint, ClientConnection>();
  readonly tracker: SessionTracker;
  private readonly pending = new Map<bigint, PendingWrite[]>();
  private readonly handshakes = new WeakMap<ClientConnection, Handshaking>();
  private readonly readContexts = new WeakMap<ClientConnection, ReadContext>();
  private readonly ids: SessionIdGenerator;
  private readonly decodeLimits: DecodeLimits;
  private expiryTimer: NodeJS.Timeout | null = null;
  private serving = false;
  private readonly tokens: TokenSettler;
  /** Watch events reach a session only if its connection's ids may READ the node (CVE-2024-23944). */
  private readonly mayRead = (sessionId: bigint, acl: readonly ACL[]): boolean => {
    const conn = this.bySession.get(sessionId);
    return conn !== undefined && checkPerms(acl, Perms.READ, conn.authIds, conn.remoteAddress);
  };
  /** Called after every applied txn (snapshot scheduling). */
  onApplied: (entry: TxnEntry) => void = () => {};

  constructor(
    readonly db: Database,
    readonly preparer: Preparer,
    readonly watches: WatchManager,
    readonly replicator: Replicator,
    private readonly opts: ResolvedOptions,
    private readonly metrics: ServerMetrics,
    private readonly log: Logger,
  ) {
    const now = Date.now();
    this.tracker = new SessionTracker(opts.tickMs, now);
    this.ids = new SessionIdGenerator(opts.memberId, now);
    this.decodeLimits = { ...DEFAULT_DECODE_LIMITS, maxBytes: opts.maxFrameBytes };
    this.tokens = new TokenSettler((t) => preparer.settle(t));
  }

  /** Starts serving: every recovered session gets a fresh full timeout to reconnect (as ZooKeeper). */
  start(): void {
    const now = Date.now();
    for (const [id, s] of this.db.sessions) this.tracker.add(id, s.timeoutMs, now);
    this.serving = true;
    this.scheduleExpiry();
  }

  stop(): void {
    this.serving = false;
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    for (const c of this.connections) c.close(CloseCode.NOT_SERVING, 'server shutting down');
  }

  // ---------------------------------------------------------------- connections

  /** A new ws connection from the listener. */
  accept(ws: WebSocket, remoteAddress: string, remotePort: number): void {
    const conn = new ClientConnection(
      ws,
      remoteAddress,
      remotePort,
      {
        maxOutstandingRequests: this.opts.maxOutstandingRequests,
        maxBufferedBytes: this.opts.maxBufferedBytesPerConnection,
        closeBufferedBytes: closeBufferedBytes(this.opts),
      },
      {
        answered: (ms) => this.metrics.recordLatency(ms),
        paused: () => this.metrics.backpressurePauses++,
        slowConsumer: (bytes) => {
          this.metrics.slowConsumerCloses++;
          this.log.warn({ conn: conn.id, bufferedBytes: bytes }, 'closing a slow consumer');
        },
      },
    );
    if (!this.serving) {
      conn.close(CloseCode.NOT_SERVING, 'server is not serving clients');
      return;
    }
    this.connections.add(conn);
    // A socket that never sends its connect request must not hold a connection slot forever.
    const handshakeTimer = setTimeout(() => {
      if (conn.state === 'handshake') {
        conn.close(
          CloseCode.MALFORMED_FRAME,
          `no connect request within ${this.opts.maxSessionTimeoutMs} ms`,
        );
      }
    }, this.opts.maxSessionTimeoutMs);
    handshakeTimer.unref();
    ws.once('close', () => clearTimeout(handshakeTimer));
    ws.on('message', (data, isBinary) => this.onMessage(conn, data as Buffer, isBinary));
    ws.on('close', () => this.onClose(conn));
  }

  private onClose(conn: ClientConnection): void {
    conn.markClosed();
    this.connections.delete(conn);
    if (conn.sessionId !== 0n && this.bySession.get(conn.sessionId) === conn)
      this.bySession.delete(conn.sessionId);
  }

  private malformed(conn: ClientConnection, why: string): void {
    this.metrics.malformedFrames++;
    this.log.debug({ conn: conn.id, why }, 'malformed frame');
    conn.close(CloseCode.MALFORMED_FRAME, why);
  }

  private onMessage(conn: ClientConnection, data: Buffer | Buffer[] | ArrayBuffer, isBinary: boolean): void {
    if (!conn.isOpen) return;
    this.metrics.packetsReceived++;
    conn.counters.packetsReceived++;
    if (!isBinary) {
      this.malformed(conn, 'text frames are not accepted: send binary CBOR frames');
      return;
    }
    const bytes = data instanceof Buffer ? data : Buffer.concat(data as Buffer[]);
    if (bytes.length > this.opts.maxFrameBytes) {
      this.metrics.malformedFrames++;
      conn.close(
        CloseCode.FRAME_TOO_LARGE,
        `frame of ${bytes.length} bytes exceeds ${this.opts.maxFrameBytes}`,
      );
      return;
    }
    if (conn.state === 'connecting') {
      const hs = this.handshakes.get(conn)!;
      if (hs.early.length >= this.opts.maxOutstandingRequests) {
        conn.close(CloseCode.MALFORMED_FRAME, 'too many requests before the connect response');
        return;
      }
      hs.early.push(bytes);
      return;
    }
    let value: unknown;
    try {
      value = decodeFrame(bytes, this.decodeLimits);
    } catch (err) {
      this.malformed(conn, (err as Error).message.replace(/^MARSHALLINGERROR: /, ''));
      return;
    }
    try {
      if (conn.state === 'handshake') this.onConnect(conn, validateConnectRequest(value));
      else this.onRequest(conn, validateRequestFrame(value));
    } catch (err) {
      if (err instanceof MarshallingError) {
        this.malformed(conn, err.message.replace(/^MARSHALLINGERROR: /, ''));
        return;
      }
      // Anything else is our bug: keep serving everyone else, drop this connection loudly.
      this.log.error({ err, conn: conn.id }, 'internal error handling a frame');
      conn.close(CloseCode.NOT_SERVING, `internal error: ${(err as Error).message}`);
    }
  }

  // ---------------------------------------------------------------- sessions

  private onConnect(conn: ClientConnection, req: ConnectRequest): void {
    if (req.protocolVersion !== PROTOCOL_VERSION) {
      conn.close(
        CloseCode.PROTOCOL_VERSION,
        `protocol version ${req.protocolVersion} is not supported (server speaks ${PROTOCOL_VERSION})`,
      );
      return;
    }
    if (req.lastZxidSeen > this.db.lastZxid) {
      conn.close(
        CloseCode.SERVER_BEHIND,
        `client has seen zxid ${formatZxid(req.lastZxidSeen)}, server is at ${formatZxid(this.db.lastZxid)}`,
      );
      return;
    }
    if (req.sessionId === 0n) this.createSession(conn, req);
    else this.resumeSession(conn, req);
  }

  private negotiateTimeout(requestedMs: number): number {
    return Math.min(this.opts.maxSessionTimeoutMs, Math.max(this.opts.minSessionTimeoutMs, requestedMs));
  }

  private createSession(conn: ClientConnection, req: ConnectRequest): void {
    const timeoutMs = this.negotiateTimeout(req.timeoutMs);
    const password = new Uint8Array(randomBytes(16));
    const sessionId = this.ids.nextId();
    const txn = this.preparer.createSession(timeoutMs, password, sessionId);
    const token = this.preparer.lastToken;
    conn.state = 'connecting';
    this.handshakes.set(conn, { early: [] });
    // Track at once, so the session can expire even if the client vanishes right away.
    this.tracker.add(sessionId, timeoutMs, Date.now());
    this.proposeFor(sessionId, 0, txn, token, (_entry, err) => {
      if (err !== 0) {
        this.tracker.remove(sessionId);
        conn.send(
          connectResponseFrame({
            timeoutMs: 0,
            sessionId: 0n,
            password: new Uint8Array(0),
            readOnly: false,
            err,
          }),
        );
        conn.close(
          CloseCode.SESSION_EXPIRED,
          `session could not be created: ${ConclaveError.from(err).message}`,
        );
        return;
      }
      // The client may have gone while the txn was being made durable: the session lives on
      // (it can still be resumed, or it expires), but there is no connection to bind.
      if (conn.state === 'closed') return;
      this.bind(conn, sessionId);
      conn.send(connectResponseFrame({ timeoutMs, sessionId, password, readOnly: false, err: 0 }));
      this.log.debug({ session: sessionId.toString(16), timeoutMs }, 'session created');
      this.replayEarly(conn);
    });
  }

  private resumeSession(conn: ClientConnection, req: ConnectRequest): void {
    const sessionId = req.sessionId;
    const durable = this.db.sessions.get(sessionId);
    const tracked = this.tracker.get(sessionId);
    const refuse = (err: number, why: string) => {
      conn.send(
        connectResponseFrame({ timeoutMs: 0, sessionId, password: new Uint8Array(0), readOnly: false, err }),
      );
      conn.close(CloseCode.SESSION_EXPIRED, why);
    };
    if (durable === undefined || tracked === undefined || tracked.closing) {
      refuse(ErrorCode.SESSIONEXPIRED, `session 0x${sessionId.toString(16)} has expired or is unknown`);
      return;
    }
    if (!samePassword(durable.password, req.password)) {
      refuse(ErrorCode.AUTHFAILED, `wrong password for session 0x${sessionId.toString(16)}`);
      return;
    }
    const older = this.bySession.get(sessionId);
    if (older !== undefined && older !== conn) {
      older.close(CloseCode.SESSION_CLOSED, 'session moved to a newer connection');
    }
    this.bind(conn, sessionId);
    this.tracker.touch(sessionId, Date.now());
    conn.send(
      connectResponseFrame({
        timeoutMs: durable.timeoutMs,
        sessionId,
        password: durable.password,
        readOnly: false,
        err: 0,
      }),
    );
  }

  private bind(conn: ClientConnection, sessionId: bigint): void {
    conn.sessionId = sessionId;
    conn.state = 'open';
    this.bySession.set(sessionId, conn);
  }

  private replayEarly(conn: ClientConnection): void {
    const hs = this.handshakes.get(conn);
    this.handshakes.delete(conn);
    if (hs === undefined) return;
    for (const bytes of hs.early) {
      if (!conn.isOpen) return;
      let value: unknown;
      try {
        value = decodeFrame(bytes, this.decodeLimits);
        this.onRequest(conn, validateRequestFrame(value));
      } catch (err) {
        this.malformed(conn, (err as Error).message.replace(/^MARSHALLINGERROR: /, ''));
        return;
      }
    }
  }

  private scheduleExpiry(): void {
    if (!this.serving) return;
    const waitMs = Math.max(1, Math.min(this.tracker.waitMs(Date.now()), this.opts.tickMs));
    this.expiryTimer = setTimeout(() => {
      this.expireSessions();
      this.scheduleExpiry();
    }, waitMs);
    this.expiryTimer.unref();
  }

  private expireSessions(): void {
    if (!this.replicator.isLeader) return;
    for (const sessionId of this.tracker.expire(Date.now())) {
      this.metrics.sessionsExpired++;
      this.log.info({ session: sessionId.toString(16) }, 'session expired');
      const txn = this.preparer.closeSession(sessionId);
      this.proposeFor(sessionId, 0, txn, this.preparer.lastToken, () => {
        this.bySession.get(sessionId)?.close(CloseCode.SESSION_EXPIRED, 'session expired');
      });
    }
  }

  // ---------------------------------------------------------------- requests

  private item(frame: RequestFrame): QueuedRequest {
    return {
      xid: frame.xid,
      op: frame.op,
      response: null,
      evaluate: null,
      after: null,
      arrivedMs: performance.now(),
    };
  }

  private onRequest(conn: ClientConnection, frame: RequestFrame): void {
    const sessionId = conn.sessionId;
    const live = this.tracker.touch(sessionId, Date.now());
    const item = this.item(frame);
    conn.lastZxid = this.db.lastZxid;
    conn.enqueue(item);
    if (!live) {
      conn.complete(item, responseFrame(frame.xid, this.db.lastZxid, ErrorCode.SESSIONEXPIRED));
      return;
    }
    if (frame.op === 'ping') {
      item.evaluate = () => responseFrame(Xid.PING, this.db.lastZxid, 0);
      conn.drain();
      return;
    }
    if (frame.op === 'auth') {
      // Applied on arrival (as ZooKeeper) so writes that follow it are prepped with the new ids.
      try {
        for (const id of authenticate(frame.scheme, frame.auth, this.opts.superDigest)) {
          if (!conn.authIds.some((a) => a.scheme === id.scheme && a.id === id.id)) conn.authIds.push(id);
        }
        conn.complete(item, responseFrame(Xid.AUTH, this.db.lastZxid, 0));
      } catch (err) {
        const why = err instanceof ConclaveError ? err.message : String(err);
        item.after = () => conn.close(CloseCode.AUTH_FAILED, why);
        conn.complete(item, responseFrame(Xid.AUTH, this.db.lastZxid, ErrorCode.AUTHFAILED));
      }
      return;
    }
    if (frame.op === 'sync') {
      this.replicator
        .sync()
        .then(() => conn.complete(item, responseFrame(frame.xid, this.db.lastZxid, 0, { path: frame.path })));
      return;
    }
    if (frame.op === 'closeSession') {
      this.tracker.setClosing(sessionId);
      const txn = this.preparer.closeSession(sessionId);
      this.proposeFor(sessionId, frame.xid, txn, this.preparer.lastToken, (entry, err) => {
        item.after = () => conn.close(CloseCode.SESSION_CLOSED, 'session closed by the client');
        conn.complete(item, responseFrame(frame.xid, entry.zxid, err));
      });
      return;
    }
    if (WRITE_OPS.has(frame.op)) {
      this.write(conn, item, frame);
      return;
    }
    const ctx = this.readContext(conn);
    item.evaluate = () => {
      const { err, result } = executeRead(frame, ctx);
      return responseFrame(frame.xid, this.db.lastZxid, err, result);
    };
    conn.drain();
  }

  /** One per connection (its session and auth ids are fixed objects), so reads allocate less. */
  private readContext(conn: ClientConnection): ReadContext {
    let ctx = this.readContexts.get(conn);
    if (ctx === undefined || ctx.sessionId !== conn.sessionId) {
      ctx = {
        db: this.db,
        watches: this.watches,
        sessionId: conn.sessionId,
        authIds: conn.authIds,
        clientIp: conn.remoteAddress,
        sendNotification: (zxid, type, path) => conn.send(notificationFrame(zxid, type, path)),
      };
      this.readContexts.set(conn, ctx);
    }
    return ctx;
  }

  private write(conn: ClientConnection, item: QueuedRequest, frame: RequestFrame): void {
    if (!this.replicator.isLeader) {
      conn.complete(item, responseFrame(frame.xid, this.db.lastZxid, ErrorCode.NOTREADONLY));
      return;
    }
    let prepped: { txn: Txn; token: number };
    // The same clock reading for prep (TTL checks) and the entry (ctime/mtime).
    const nowMs = Date.now();
    try {
      prepped = this.preparer.prep(frame as never, {
        sessionId: conn.sessionId,
        authIds: conn.authIds,
        nowMs,
        clientIp: conn.remoteAddress,
      });
    } catch (err) {
      // prep turns every ConclaveError into an error txn; anything thrown is a bug in prep. The
      // token it took must still be finished, or settling would stall behind it forever.
      this.tokens.finished(this.preparer.lastToken);
      const errno = err instanceof ConclaveError ? err.errno : ErrorCode.SYSTEMERROR;
      this.log.error({ err }, 'prep failed');
      conn.complete(item, responseFrame(frame.xid, this.db.lastZxid, errno));
      return;
    }
    const { txn, token } = prepped;
    if (txn.type === 'error') {
      this.tokens.finished(token);
      if (this.replicator.pending === 0) {
        conn.complete(item, responseFrame(frame.xid, this.db.lastZxid, txn.err));
        return;
      }
      // The error may rest on a proposal not applied yet (NODEEXISTS because of another session's
      // in-flight create, NONODE because of an in-flight delete). Answering now would let this
      // session's next read contradict the answer, so, as ZooKeeper orders error txns behind
      // in-flight proposals, the answer waits until everything proposed before it is applied.
      this.replicator
        .sync()
        .then(() => conn.complete(item, responseFrame(frame.xid, this.db.lastZxid, txn.err)));
      return;
    }
    this.proposeFor(
      conn.sessionId,
      frame.xid,
      txn,
      token,
      (entry, err, result) => conn.complete(item, responseFrame(frame.xid, entry.zxid, err, result)),
      nowMs,
    );
  }

  /** Proposes a txn on behalf of `sessionId` and remembers who waits for its commit. */
  proposeFor(
    sessionId: bigint,
    cxid: number,
    txn: Txn,
    token: number,
    onCommit: PendingWrite['onCommit'],
    time = Date.now(),
  ): void {
    let queue = this.pending.get(sessionId);
    if (queue === undefined) this.pending.set(sessionId, (queue = []));
    queue.push({ cxid, token, onCommit });
    this.replicator.propose({ sessionId, cxid, time, txn });
  }

  /**
   * Server-owned maintenance (container / TTL cleanup): a delete re-checked by the Preparer against
   * outstanding changes, proposed under session 0. False when the node is no longer eligible.
   */
  proposeServerDelete(path: string): boolean {
    const nowMs = Date.now();
    const prepped = this.preparer.reap(path, nowMs);
    if (prepped === undefined) return false;
    this.proposeFor(0n, 0, prepped.txn, prepped.token, () => {}, nowMs);
    return true;
  }

  /**
   * A write proposed for `sessionId` as `cxid` will never be applied (an ensemble leader refused
   * it, e.g. THROTTLEDOP when too many proposals are in flight): forget it and answer it with
   * `err`, so that the session's later writes are not stuck behind it. False if no such write.
   */
  abandon(sessionId: bigint, cxid: number, err: number): boolean {
    const queue = this.pending.get(sessionId);
    const i = queue?.findIndex((w) => w.cxid === cxid) ?? -1;
    if (queue === undefined || i < 0) return false;
    const [w] = queue.splice(i, 1);
    if (queue.length === 0) this.pending.delete(sessionId);
    this.tokens.finished(w!.token);
    const none: TxnEntry = {
      zxid: this.db.lastZxid,
      sessionId,
      cxid,
      time: Date.now(),
      txn: { type: 'error', err },
    };
    w!.onCommit(none, err, undefined);
    return true;
  }

  // ---------------------------------------------------------------- commits

  /** The replicator's commit callback: apply, fire watches, answer. */
  commit(entry: TxnEntry): void {
    const applied = this.db.apply(entry);
    this.metrics.txnsApplied++;
    const queue = this.pending.get(entry.sessionId);
    let mine: PendingWrite | undefined;
    if (queue !== undefined && queue[0] !== undefined && queue[0].cxid === entry.cxid) {
      mine = queue.shift();
      if (queue.length === 0) this.pending.delete(entry.sessionId);
    }
    if (mine !== undefined) this.tokens.finished(mine.token);

    const txn = entry.txn;
    if (txn.type === 'closeSession') this.tracker.remove(entry.sessionId);
    else if (txn.type === 'createSession' && mine === undefined) {
      // Created through another member: track it too (the leader owns expiry).
      this.tracker.add(entry.sessionId, txn.timeoutMs, Date.now());
    }

    if (applied.events.length > 0) {
      const fired = this.watches.trigger(applied.events, entry.zxid, this.mayRead);
      for (const [sessionId, events] of fired) {
        const conn = this.bySession.get(sessionId);
        if (conn === undefined) continue;
        for (const e of events) conn.send(notificationFrame(e.zxid, e.type, e.path));
      }
    }
    if (txn.type === 'closeSession') this.watches.removeSession(entry.sessionId);
    mine?.onCommit(entry, applied.err, applied.result as object | undefined);
    this.onApplied(entry);
  }

  /** The replicator failed: nothing more can be made durable, so stop serving. */
  fail(err: Error): void {
    this.log.fatal({ err }, 'replication failed; no longer serving');
    this.stop();
  }

  get outstanding(): number {
    let n = 0;
    for (const c of this.connections) n += c.outstanding;
    return n;
  }
}

function samePassword(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
