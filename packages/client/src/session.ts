import {
  AuthFailedError,
  type Chroot,
  CloseCode,
  ConclaveError,
  ConnectionLossError,
  ErrorCode,
  encodeFrame,
  type EventType,
  type NotificationFrame,
  PROTOCOL_VERSION,
  QuotaExceededError,
  SessionExpiredError,
  type SetWatchesRequest,
  type WatchedEvent,
  Xid,
} from '@conclave/core';
import pRetry, { AbortError } from 'p-retry';
import { formatMember, type Member } from './connect-string.js';
import {
  type CloseInfo,
  ConnectAttemptError,
  Connection,
  LocalCloseCode,
  type ResponseFrame,
} from './connection.js';
import {
  type ConnectionState,
  canTransition,
  isConnectedState,
  isTerminalState,
} from './connection-state.js';
import type { WatchKind, WatchListener, WatchRegistry } from './watch-registry.js';

/**
 * The session state machine: one ZooKeeper session across as many connections as it takes.
 *
 * - Connect: try the members in (shuffled) order, one round per p-retry attempt with jittered
 *   backoff between rounds (ZooKeeper tries the next member at once and only sleeps after a
 *   whole round failed).
 * - Prime each new connection before use: re-send every addAuth, then re-register all watches with
 *   `setWatches` relative to the last zxid seen, so the server fires what changed meanwhile. A
 *   setWatches refused for the server's watch quota (QUOTAEXCEEDED) does not end the session:
 *   the watches that fit are kept, the rest are dropped (their listeners hear *WatchRemoved) and
 *   an error event says which.
 * - Lose a connection (socket ends, read timeout): SUSPENDED; outstanding calls fail with
 *   CONNECTIONLOSS and new calls fail fast the same way (ZooKeeper-like: the caller decides whether
 *   its op is safe to retry). Reconnect to any member with id + password + lastZxidSeen.
 * - Disconnected for a whole session timeout: LOST (Curator's presumption); keep trying, because
 *   only the server can say EXPIRED — or, having kept the session across its own restart, take us back.
 * - The server says the session is gone: EXPIRED, watches dropped, every call fails with
 *   SessionExpiredError. `close()`: CLOSED, the same for calls.
 */

export interface SessionOptions {
  /** Members in the order to try them (connect.ts shuffles). */
  members: Member[];
  chroot: Chroot;
  sessionTimeoutMs: number;
  /** Resume this session instead of creating one. */
  resume?: { sessionId: bigint; password: Uint8Array };
  auth: { scheme: string; auth: Uint8Array }[];
  retry: { retries: number; minTimeoutMs: number; maxTimeoutMs: number };
  maxFrameBytes: number;
  maxOutstandingRequests: number;
  maxQueuedRequests: number;
  /** Bound on one closeSession round trip during close(). */
  closeTimeoutMs: number;
}

export interface SessionEvents {
  onState(state: ConnectionState): void;
  /** Every watch notification, after the listeners registered for it ran. */
  onEvent(event: WatchedEvent): void;
  /**
   * A watch listener threw (event set), reconnecting failed for a reason other than expiry, or
   * watches were dropped for the server's watch quota while priming a connection.
   */
  onError(err: unknown, event?: WatchedEvent): void;
}

/** One watch to re-register: its kind and client path. */
interface WatchEntry {
  kind: WatchKind;
  path: string;
}

/** The setWatches field of each watch kind. */
const SET_WATCHES_FIELD = {
  data: 'dataWatches',
  exist: 'existWatches',
  child: 'childWatches',
  persistent: 'persistentWatches',
  persistentRecursive: 'persistentRecursiveWatches',
} as const satisfies Record<WatchKind, keyof SetWatchesRequest>;

/** Paths named in the error event when watches are dropped (the count is always given). */
const DROPPED_PATHS_SHOWN = 10;

/** Largest path bytes per setWatches frame, as ZooKeeper's 128 KiB batches. */
const SET_WATCHES_BATCH_BYTES = 128 * 1024;
const MAX_XID = 0x7fffffff;

export class Session {
  state: ConnectionState = 'CONNECTING';
  sessionId = 0n;
  password: Uint8Array = new Uint8Array(0);
  /** The timeout the server granted; the requested one until the first connect. */
  timeoutMs: number;
  /** Highest zxid seen in a response or notification; sent on reconnect and with setWatches. */
  lastZxidSeen = 0n;

  private readonly opts: SessionOptions;
  private readonly watches: WatchRegistry;
  private readonly events: SessionEvents;
  private readonly authInfos: { scheme: string; auth: Uint8Array }[];
  private connection: Connection | null = null;
  private nextMember = 0;
  private xid = 0;
  private closing = false;
  private closed: Promise<void> | undefined;
  private reconnectAbort: AbortController | undefined;
  private lostTimer: ReturnType<typeof setTimeout> | undefined;
  /** Removal events for watches dropped while priming, told once the connection is adopted. */
  private droppedWatches: { listener: WatchListener; event: WatchedEvent }[] = [];

  constructor(opts: SessionOptions, watches: WatchRegistry, events: SessionEvents) {
    if (opts.members.length === 0) throw new Error('invariant: a session needs at least one member');
    this.opts = opts;
    this.watches = watches;
    this.events = events;
    this.timeoutMs = opts.sessionTimeoutMs;
    this.authInfos = [...opts.auth];
    if (opts.resume) {
      this.sessionId = opts.resume.sessionId;
      this.password = opts.resume.password;
    }
  }

  /** The member of the live connection, for messages and tests. */
  get member(): Member | undefined {
    return this.connection?.member;
  }

  /** First connect: resolves once CONNECTED; rejects (and closes) when every retry failed. */
  async start(signal?: AbortSignal): Promise<void> {
    const ac = new AbortController();
    const onAbort = () => ac.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const conn = await this.connectWithRetry(ac.signal, this.opts.retry.retries);
      this.adopt(conn, 'CONNECTED');
    } catch (err) {
      this.transition('CLOSED');
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** The next request xid: positive, unique among outstanding requests (wraps after 2^31 - 1). */
  nextXid(): number {
    this.xid = this.xid >= MAX_XID ? 1 : this.xid + 1;
    return this.xid;
  }

  /** Sends an encoded request; fails fast unless connected (see the class comment). */
  submit(
    xid: number,
    bytes: Uint8Array,
    signal?: AbortSignal,
    onReply?: (frame: ResponseFrame) => void,
  ): Promise<ResponseFrame> {
    const refusal = this.refusal();
    if (refusal) return Promise.reject(refusal);
    return this.connection!.submit(xid, bytes, signal, onReply);
  }

  /** The error a call gets now, or undefined when it may be sent. */
  refusal(): ConclaveError | undefined {
    if (this.closing || this.state === 'CLOSED') {
      // ZooKeeper answers calls on a closed handle with SESSIONEXPIRED: the session is gone for good.
      return new SessionExpiredError('the client is closed; create a new client with connect()');
    }
    if (this.state === 'EXPIRED') return new SessionExpiredError();
    if (this.connection === null || !isConnectedState(this.state)) {
      return new ConnectionLossError(
        `not connected (state ${this.state}): the client is reconnecting; retry once the state is RECONNECTED`,
      );
    }
    return undefined;
  }

  /** Authenticates this session; remembered and re-sent on every reconnect. */
  async addAuth(scheme: string, auth: Uint8Array, signal?: AbortSignal): Promise<void> {
    const frame = await this.submit(
      Xid.AUTH,
      encodeFrame({ xid: Xid.AUTH, op: 'auth', scheme, auth }),
      signal,
    );
    if (frame.err !== 0)
      throw ConclaveError.from(frame.err, undefined, `${scheme} authentication was refused`);
    const known = this.authInfos.some((a) => a.scheme === scheme && sameBytes(a.auth, auth));
    if (!known) this.authInfos.push({ scheme, auth });
  }

  /** Closes the socket as if the network dropped it: the session goes SUSPENDED and reconnects. */
  dropConnection(): void {
    this.connection?.close(LocalCloseCode.ABANDONED, 'connection dropped on request');
  }

  /** Ends the session on the server (ephemerals go at once) and the client. Idempotent. */
  close(): Promise<void> {
    this.closed ??= this.doClose();
    return this.closed;
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    this.reconnectAbort?.abort(new SessionExpiredError('the client is closed'));
    clearTimeout(this.lostTimer);
    const conn = this.connection;
    if (conn !== null && isConnectedState(this.state)) {
      const xid = this.nextXid();
      const timeout = AbortSignal.timeout(this.opts.closeTimeoutMs);
      // Calls sent before close() are answered first (FIFO); a lost connection only means the
      // server will expire the session itself, so failures here are not the caller's problem.
      await conn.submit(xid, encodeFrame({ xid, op: 'closeSession' }), timeout).catch(() => {});
    }
    this.connection = null;
    this.watches.clear();
    this.droppedWatches = [];
    if (this.state !== 'CLOSED') this.transition('CLOSED');
    conn?.close(LocalCloseCode.NORMAL, 'session closed');
  }

  private transition(to: ConnectionState): void {
    if (!canTransition(this.state, to))
      throw new Error(`invariant: illegal state change ${this.state} -> ${to}`);
    this.state = to;
    this.events.onState(to);
  }

  private adopt(conn: Connection, to: 'CONNECTED' | 'RECONNECTED'): void {
    this.connection = conn;
    clearTimeout(this.lostTimer);
    this.lostTimer = undefined;
    this.transition(to);
    // After the state change, so a listener that re-reads (data$) can send at once.
    const dropped = this.droppedWatches;
    this.droppedWatches = [];
    for (const { listener, event } of dropped) this.deliver(event, [listener]);
    // The socket may have ended between priming and here; its onClose was ignored then.
    if (!conn.isOpen) this.onConnectionLost(conn, { code: 1006, reason: 'connection ended while priming' });
  }

  private onConnectionLost(conn: Connection, info: CloseInfo): void {
    if (conn !== this.connection || this.closing || isTerminalState(this.state)) return;
    this.connection = null;
    if (info.code === CloseCode.SESSION_EXPIRED) {
      this.expire();
      return;
    }
    this.transition('SUSPENDED');
    this.lostTimer = setTimeout(() => {
      if (this.state === 'SUSPENDED') this.transition('LOST');
    }, this.timeoutMs);
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    const ac = new AbortController();
    this.reconnectAbort = ac;
    try {
      const conn = await this.connectWithRetry(ac.signal, Number.POSITIVE_INFINITY);
      if (this.closing || isTerminalState(this.state)) {
        conn.close();
        return;
      }
      this.adopt(conn, 'RECONNECTED');
    } catch (err) {
      if (this.closing || isTerminalState(this.state)) return;
      // SESSIONEXPIRED, or AUTHFAILED for credentials the server accepted before: either way
      // this session can serve nothing more.
      if (!(err instanceof SessionExpiredError)) this.events.onError(err);
      this.expire();
    } finally {
      if (this.reconnectAbort === ac) this.reconnectAbort = undefined;
    }
  }

  private expire(): void {
    if (isTerminalState(this.state)) return;
    this.reconnectAbort?.abort(new SessionExpiredError());
    clearTimeout(this.lostTimer);
    const conn = this.connection;
    this.connection = null;
    conn?.close(LocalCloseCode.NORMAL, 'session expired');
    this.watches.clear();
    this.droppedWatches = [];
    this.transition('EXPIRED');
  }

  private async connectWithRetry(signal: AbortSignal, retries: number): Promise<Connection> {
    let adopted: Connection | undefined;
    try {
      return await pRetry(
        async () => {
          adopted = await this.connectRound(signal);
          return adopted;
        },
        {
          retries,
          minTimeout: this.opts.retry.minTimeoutMs,
          maxTimeout: this.opts.retry.maxTimeoutMs,
          randomize: true,
          signal,
        },
      );
    } catch (err) {
      // p-retry re-checks the signal after a success: do not leak that connection.
      adopted?.close();
      throw err;
    }
  }

  /** One try at every member; AbortError for answers no retry can change. */
  private async connectRound(signal: AbortSignal): Promise<Connection> {
    const members = this.opts.members;
    let lastError: unknown;
    for (let i = 0; i < members.length; i++) {
      signal.throwIfAborted();
      const member = members[this.nextMember]!;
      this.nextMember = (this.nextMember + 1) % members.length;
      try {
        return await this.attempt(member, signal);
      } catch (err) {
        if (isFatalConnectError(err)) throw new AbortError(err as Error);
        lastError = err;
      }
    }
    signal.throwIfAborted();
    throw lastError instanceof Error
      ? lastError
      : new ConnectionLossError(`cannot connect to any of ${members.map(formatMember).join(',')}`);
  }

  private async attempt(member: Member, signal: AbortSignal): Promise<Connection> {
    const conn: Connection = new Connection(
      {
        member,
        connectRequest: {
          protocolVersion: PROTOCOL_VERSION,
          lastZxidSeen: this.lastZxidSeen,
          timeoutMs: this.opts.sessionTimeoutMs,
          sessionId: this.sessionId,
          password: this.password,
          readOnly: false,
        },
        // ZooKeeper: connectTimeout = sessionTimeout / number of members.
        connectTimeoutMs: Math.max(250, Math.floor(this.timeoutMs / this.opts.members.length)),
        maxFrameBytes: this.opts.maxFrameBytes,
        maxOutstandingRequests: this.opts.maxOutstandingRequests,
        maxQueuedRequests: this.opts.maxQueuedRequests,
      },
      {
        onNotification: (frame) => this.onNotification(frame),
        onZxid: (zxid) => {
          if (zxid > this.lastZxidSeen) this.lastZxidSeen = zxid;
        },
        onClose: (info) => this.onConnectionLost(conn, info),
      },
    );
    const onAbort = () => conn.close(LocalCloseCode.ABANDONED, 'connect attempt abandoned');
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const response = await conn.ready;
      if (response.err !== 0) {
        throw ConclaveError.from(response.err, undefined, `${formatMember(member)} refused the session`);
      }
      if (this.sessionId !== 0n && response.sessionId !== this.sessionId) {
        throw new ConnectionLossError(
          `${formatMember(member)} answered for session 0x${response.sessionId.toString(16)} instead of 0x${this.sessionId.toString(16)}`,
        );
      }
      this.sessionId = response.sessionId;
      this.password = response.password;
      this.timeoutMs = response.timeoutMs;
      await this.prime(conn, signal);
      return conn;
    } catch (err) {
      conn.close(LocalCloseCode.ABANDONED, 'connect attempt failed');
      if (err instanceof ConnectAttemptError && err.closeCode === CloseCode.SESSION_EXPIRED) {
        throw new SessionExpiredError(err.message);
      }
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Re-sends auth, then re-registers every watch; both answered before the connection is used. */
  private async prime(conn: Connection, signal: AbortSignal): Promise<void> {
    const authReplies = this.authInfos.map((a) =>
      conn.submit(
        Xid.AUTH,
        encodeFrame({ xid: Xid.AUTH, op: 'auth', scheme: a.scheme, auth: a.auth }),
        signal,
      ),
    );
    const batches = this.watchBatches();
    const watchReplies = batches.map((batch) => this.sendSetWatches(conn, batch, signal));
    const [authFrames, watchFrames] = await Promise.all([
      Promise.all(authReplies),
      Promise.all(watchReplies),
    ]);
    if (authFrames.some((f) => f.err !== 0))
      throw new AuthFailedError('the server refused credentials given with addAuth/auth');
    const refused: WatchEntry[] = [];
    for (const [i, f] of watchFrames.entries()) {
      if (f.err === ErrorCode.QUOTAEXCEEDED) refused.push(...batches[i]!);
      else if (f.err !== 0)
        throw ConclaveError.from(f.err, undefined, 'the server refused to re-register watches');
    }
    if (refused.length > 0) await this.fitWatches(conn, refused, signal);
  }

  /**
   * Re-sends watches the server refused for its per-session quota in halves, keeping every part it
   * takes. A single watch refused means the quota is full: it and every one not yet sent are
   * dropped here (the session itself is fine). O(log n) round trips.
   */
  private async fitWatches(conn: Connection, refused: WatchEntry[], signal: AbortSignal): Promise<void> {
    const pending = halves(refused);
    let dropped: WatchEntry[] = [];
    for (let batch = pending.shift(); batch !== undefined; batch = pending.shift()) {
      const f = await this.sendSetWatches(conn, batch, signal);
      if (f.err === 0) continue;
      if (f.err !== ErrorCode.QUOTAEXCEEDED)
        throw ConclaveError.from(f.err, undefined, 'the server refused to re-register watches');
      if (batch.length > 1) {
        pending.unshift(...halves(batch));
        continue;
      }
      dropped = [...batch, ...pending.flat()];
      break;
    }
    if (dropped.length === 0) return;
    for (const { kind, path } of dropped) this.droppedWatches.push(...this.watches.drop(path, kind));
    const shown = dropped.slice(0, DROPPED_PATHS_SHOWN).map((w) => `${w.kind} ${w.path}`);
    const more = dropped.length > shown.length ? `, and ${dropped.length - shown.length} more` : '';
    this.events.onError(
      new QuotaExceededError(
        `after reconnecting, ${dropped.length} watch(es) did not fit the server's watch quota ` +
          `(maxWatchesPerSession) and were dropped; their listeners got a *WatchRemoved event: ` +
          `${shown.join(', ')}${more}. The session is fine; remove watches you no longer need.`,
      ),
    );
  }

  private sendSetWatches(conn: Connection, batch: WatchEntry[], signal: AbortSignal): Promise<ResponseFrame> {
    const req: SetWatchesRequest = {
      op: 'setWatches',
      relativeZxid: this.lastZxidSeen,
      dataWatches: [],
      existWatches: [],
      childWatches: [],
      persistentWatches: [],
      persistentRecursiveWatches: [],
    };
    for (const { kind, path } of batch) req[SET_WATCHES_FIELD[kind]].push(this.opts.chroot.toServer(path));
    return conn.submit(Xid.SET_WATCHES, encodeFrame({ xid: Xid.SET_WATCHES, ...req }), signal);
  }

  /** The registry's watches in batches of at most SET_WATCHES_BATCH_BYTES of server paths. */
  private watchBatches(): WatchEntry[][] {
    const paths = this.watches.paths();
    const out: WatchEntry[][] = [];
    let current: WatchEntry[] | undefined;
    let bytes = 0;
    for (const kind of Object.keys(SET_WATCHES_FIELD) as WatchKind[]) {
      for (const path of paths[kind]) {
        const size = this.opts.chroot.toServer(path).length + 8;
        if (current === undefined || bytes + size > SET_WATCHES_BATCH_BYTES) {
          current = [];
          out.push(current);
          bytes = 0;
        }
        current.push({ kind, path });
        bytes += size;
      }
    }
    return out;
  }

  private onNotification(frame: NotificationFrame): void {
    const ev = frame.event as { type?: unknown; path?: unknown } | undefined;
    if (typeof ev?.type !== 'string' || typeof ev.path !== 'string') return;
    let path: string;
    try {
      path = this.opts.chroot.toClient(ev.path);
    } catch {
      return; // outside our chroot: not ours to see
    }
    const event: WatchedEvent = {
      type: ev.type as EventType,
      path,
      zxid: typeof frame.zxid === 'bigint' ? frame.zxid : 0n,
    };
    this.deliver(event, this.watches.materialize(event));
    this.events.onEvent(event);
  }

  /** Calls each listener; one that throws neither stops the others nor the connection. */
  deliver(event: WatchedEvent, listeners: Iterable<(e: WatchedEvent) => void>): void {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (err) {
        this.events.onError(err, event);
      }
    }
  }
}

function isFatalConnectError(err: unknown): boolean {
  if (err instanceof ConnectAttemptError) return err.closeCode === CloseCode.PROTOCOL_VERSION;
  return err instanceof ConclaveError && !(err instanceof ConnectionLossError);
}

/** A batch cut in two (a single watch stays whole). */
function halves<T>(batch: T[]): T[][] {
  if (batch.length < 2) return [batch];
  const half = Math.ceil(batch.length / 2);
  return [batch.slice(0, half), batch.slice(half)];
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
