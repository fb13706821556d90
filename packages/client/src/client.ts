import {
  type ACL,
  type AddWatchMode,
  BadArgumentsError,
  type Chroot,
  ConclaveError,
  ConnectionLossError,
  type CreateModeFlag,
  type CreateModeName,
  ErrorCode,
  encodeFrame,
  NoWatcherError,
  OPEN_ACL_UNSAFE,
  type Request,
  SessionExpiredError,
  type Stat,
  type WatchedEvent,
  type WatcherType,
  validatePath,
} from '@conclave/core';
import { EventEmitter } from 'eventemitter3';
import { BehaviorSubject, type Observable, of } from 'rxjs';
import {
  checkAcl,
  checkCreatePath,
  checkListener,
  checkSignal,
  checkTtl,
  checkVersion,
  type Data,
  resolveMode,
  toBytes,
} from './arguments.js';
import type { ResponseFrame } from './connection.js';
import type { ConnectionState } from './connection-state.js';
import { type Op, type OpResult, toMultiOps } from './multi-op.js';
import { childrenObservable, dataObservable, type NodeData, type WatchSource } from './observables.js';
import { Session, type SessionOptions } from './session.js';
import { Transaction } from './transaction.js';
import { kindOfMode, type WatchListener, WatchRegistry } from './watch-registry.js';

/** Options every call takes. */
export interface CallOptions {
  /** Aborting rejects the call with the signal's reason; a late response is ignored. */
  signal?: AbortSignal;
}

export interface CreateOptions extends CallOptions {
  /** A CreateMode name or flag; PERSISTENT by default. */
  mode?: CreateModeName | CreateModeFlag;
  /** OPEN_ACL_UNSAFE by default. */
  acl?: readonly ACL[];
  /** Required for the TTL modes. */
  ttlMs?: number;
}

export interface VersionOptions extends CallOptions {
  /** Only if the node is at this version; -1 (default) matches any. */
  version?: number;
}

export interface WatchOptions extends CallOptions {
  /** A one-shot listener, called once for the next change the read's response can't show. */
  watch?: WatchListener;
}

/** eventemitter3 events of a client. */
export interface ClientEvents {
  /** Every connection-state change. */
  state: (state: ConnectionState) => void;
  /** Every watch notification (after the listeners registered for it ran). */
  watch: (event: WatchedEvent) => void;
  /**
   * A watch listener threw; reconnecting failed for a reason other than expiry; or, after a
   * reconnect, watches that did not fit the server's watch quota were dropped (QuotaExceededError;
   * the session is fine, and each dropped listener got a *WatchRemoved event).
   */
  error: (err: unknown) => void;
}

/** Client-side limits, checked before anything is sent. */
export interface ClientLimits {
  maxDataBytes: number;
  maxFrameBytes: number;
}

/** The thrown error of a failed multi carries every op's outcome. */
export type MultiError = ConclaveError & { results: OpResult[] };

/**
 * A Conclave (ZooKeeper-model) client: one session, a promise API, watches, and Observables of
 * connection state and of nodes. Make one with {@link connect}; `close()` it when done.
 *
 * Failure semantics, as ZooKeeper's:
 * - ConnectionLossError: the connection dropped while the call was outstanding (it may or may not
 *   have been applied), or the call was made while SUSPENDED/LOST (it was not sent). Calls are never
 *   retried behind your back; retry what is idempotent once the state is RECONNECTED.
 * - SessionExpiredError: the session is gone (EXPIRED) or the client was closed (CLOSED); every
 *   later call fails the same way. Make a new client.
 */
export class ConclaveClient extends EventEmitter<ClientEvents> {
  private readonly session: Session;
  private readonly watches: WatchRegistry;
  private readonly chroot: Chroot;
  private readonly limits: ClientLimits;
  private readonly stateSubject: BehaviorSubject<ConnectionState>;
  private readonly source: WatchSource;

  /**
   * Connects a new client (resolving once CONNECTED). Use {@link connect}, which checks the
   * options and builds `sessionOpts`.
   * @internal
   */
  static async open(
    sessionOpts: SessionOptions,
    limits: ClientLimits,
    signal?: AbortSignal,
  ): Promise<ConclaveClient> {
    const client = new ConclaveClient(sessionOpts, limits);
    await client.session.start(signal);
    return client;
  }

  private constructor(sessionOpts: SessionOptions, limits: ClientLimits) {
    super();
    this.watches = new WatchRegistry();
    this.session = new Session(sessionOpts, this.watches, {
      onState: (state) => this.onStateChange(state),
      onEvent: (event) => this.safeEmit('watch', event),
      onError: (err) => this.onError(err),
    });
    this.chroot = sessionOpts.chroot;
    this.limits = limits;
    this.stateSubject = new BehaviorSubject<ConnectionState>(this.session.state);
    const self = this;
    this.source = {
      getData: (path, opts) => this.getData(path, opts),
      exists: (path, opts) => this.exists(path, opts),
      getChildren: (path, opts) => this.getChildren(path, opts),
      get state() {
        return self.state;
      },
      get state$() {
        return self.state$;
      },
      forget: (path, listener) => {
        this.watches.remove(path, 'data', listener);
        this.watches.remove(path, 'exist', listener);
        this.watches.remove(path, 'child', listener);
      },
    };
  }

  private onStateChange(state: ConnectionState): void {
    this.stateSubject.next(state);
    this.safeEmit('state', state);
    if (state === 'CLOSED') this.stateSubject.complete();
  }

  /** A throwing user listener must not unwind into the session state machine or the socket. */
  private safeEmit<E extends 'state' | 'watch'>(event: E, arg: Parameters<ClientEvents[E]>[0]): void {
    try {
      (this.emit as (e: string, a: unknown) => boolean)(event, arg);
    } catch (err) {
      this.onError(err);
    }
  }

  /** Reports a listener's exception: an 'error' event, or a process warning when nobody listens. */
  private onError(err: unknown): void {
    if (this.listenerCount('error') > 0) {
      try {
        this.emit('error', err);
        return;
      } catch (thrown) {
        err = thrown;
      }
    }
    process.emitWarning(err instanceof Error ? err : new Error(String(err)), 'ConclaveClientWarning');
  }

  /** The session id the server assigned (0n before the first connect). */
  get sessionId(): bigint {
    return this.session.sessionId;
  }

  /** The session password; with sessionId, lets another client resume this session (`connect(..., { session })`). */
  get sessionPassword(): Uint8Array {
    return this.session.password;
  }

  /** The session timeout the server granted. */
  get sessionTimeoutMs(): number {
    return this.session.timeoutMs;
  }

  /** The highest zxid this client has seen. */
  get lastZxidSeen(): bigint {
    return this.session.lastZxidSeen;
  }

  get state(): ConnectionState {
    return this.session.state;
  }

  /** The connection state now and at every change (replays the current state; completes after CLOSED). */
  get state$(): Observable<ConnectionState> {
    // After CLOSED the subject has completed; late subscribers still get the state replayed.
    return this.session.state === 'CLOSED' ? of<ConnectionState>('CLOSED') : this.stateSubject.asObservable();
  }

  /** Creates a node; resolves with its path (with the sequence suffix for sequential modes). */
  async create(path: string, data?: Data, opts: CreateOptions = {}): Promise<string> {
    return (await this.createWithStat(path, data, opts)).path;
  }

  /** As create, also returning the new node's Stat (ZooKeeper's create2). */
  async createWithStat(
    path: string,
    data?: Data,
    opts: CreateOptions = {},
  ): Promise<{ path: string; stat: Stat }> {
    const mode = resolveMode(opts.mode, path);
    checkCreatePath(path, mode);
    const ttlMs = checkTtl(mode, opts.ttlMs, path);
    const f = await this.call(
      {
        op: 'create',
        path: this.chroot.toServer(path),
        data: toBytes(data, this.limits.maxDataBytes, path),
        acl: checkAcl(opts.acl ?? OPEN_ACL_UNSAFE, path),
        mode,
        ...(ttlMs === undefined ? {} : { ttlMs }),
      },
      path,
      opts.signal,
    );
    return { path: this.chroot.toClient(f.path as string), stat: f.stat as Stat };
  }

  async delete(path: string, opts: VersionOptions = {}): Promise<void> {
    validatePath(path);
    const version = checkVersion(opts.version, path);
    await this.call({ op: 'delete', path: this.chroot.toServer(path), version }, path, opts.signal);
  }

  /** The node's Stat, or null when it does not exist; `watch` fires on its creation, change or deletion. */
  async exists(path: string, opts: WatchOptions = {}): Promise<Stat | null> {
    validatePath(path);
    checkListener(opts.watch, path);
    const watch = opts.watch;
    const f = await this.call(
      { op: 'exists', path: this.chroot.toServer(path), watch: watch !== undefined },
      path,
      opts.signal,
      (frame) => {
        // As ZooKeeper: a found node gets a data watch, an absent one an exist watch.
        if (watch && frame.err === 0) this.watches.add(path, 'data', watch);
        if (watch && frame.err === ErrorCode.NONODE) this.watches.add(path, 'exist', watch);
      },
      true,
    );
    return f.err === ErrorCode.NONODE ? null : (f.stat as Stat);
  }

  async getData(path: string, opts: WatchOptions = {}): Promise<NodeData> {
    validatePath(path);
    checkListener(opts.watch, path);
    const watch = opts.watch;
    const f = await this.call(
      { op: 'getData', path: this.chroot.toServer(path), watch: watch !== undefined },
      path,
      opts.signal,
      (frame) => {
        if (watch && frame.err === 0) this.watches.add(path, 'data', watch);
      },
    );
    return { data: plainBytes(f.data), stat: f.stat as Stat };
  }

  async setData(path: string, data: Data, opts: VersionOptions = {}): Promise<Stat> {
    validatePath(path);
    const version = checkVersion(opts.version, path);
    const bytes = toBytes(data, this.limits.maxDataBytes, path);
    const f = await this.call(
      { op: 'setData', path: this.chroot.toServer(path), data: bytes, version },
      path,
      opts.signal,
    );
    return f.stat as Stat;
  }

  async getChildren(path: string, opts: WatchOptions = {}): Promise<{ children: string[]; stat: Stat }> {
    validatePath(path);
    checkListener(opts.watch, path);
    const watch = opts.watch;
    const f = await this.call(
      { op: 'getChildren', path: this.chroot.toServer(path), watch: watch !== undefined },
      path,
      opts.signal,
      (frame) => {
        if (watch && frame.err === 0) this.watches.add(path, 'child', watch);
      },
    );
    return { children: (f.children as string[]) ?? [], stat: f.stat as Stat };
  }

  async getACL(path: string, opts: CallOptions = {}): Promise<{ acl: ACL[]; stat: Stat }> {
    validatePath(path);
    const f = await this.call({ op: 'getACL', path: this.chroot.toServer(path) }, path, opts.signal);
    return { acl: f.acl as ACL[], stat: f.stat as Stat };
  }

  async setACL(path: string, acl: readonly ACL[], opts: VersionOptions = {}): Promise<Stat> {
    validatePath(path);
    const checked = checkAcl(acl, path);
    const version = checkVersion(opts.version, path);
    const f = await this.call(
      { op: 'setACL', path: this.chroot.toServer(path), acl: checked, version },
      path,
      opts.signal,
    );
    return f.stat as Stat;
  }

  /** Waits until the member serving this client has applied every write committed before the call. */
  async sync(path: string, opts: CallOptions = {}): Promise<void> {
    validatePath(path);
    await this.call({ op: 'sync', path: this.chroot.toServer(path) }, path, opts.signal);
  }

  /**
   * Applies every op or none. On failure rejects with the typed error of the first op that failed
   * (not RUNTIMEINCONSISTENCY, which only marks the ops that were not applied because of it), with
   * `results` listing every op's outcome.
   */
  async multi(ops: readonly Op[], opts: CallOptions = {}): Promise<OpResult[]> {
    const wire = toMultiOps(ops, this.chroot, this.limits.maxDataBytes);
    const f = await this.call({ op: 'multi', ops: wire }, undefined, opts.signal, undefined, false, true);
    const results = ((f.results as OpResult[] | undefined) ?? []).map((r) =>
      r.op === 'create' ? { ...r, path: this.chroot.toClient(r.path) } : r,
    );
    const failed = results.findIndex(
      (r) => r.op === 'error' && r.err !== 0 && r.err !== ErrorCode.RUNTIMEINCONSISTENCY,
    );
    if (f.err !== 0 || failed >= 0) {
      const errno = failed >= 0 ? (results[failed] as { err: number }).err : f.err;
      const err = ConclaveError.from(errno, failed >= 0 ? ops[failed]?.path : undefined) as MultiError;
      Object.defineProperty(err, 'results', { value: results, enumerable: true });
      throw err;
    }
    return results;
  }

  /** A builder for an atomic multi: `client.transaction().create(…).setData(…).commit()`. */
  transaction(): Transaction {
    return new Transaction((ops, signal) => this.multi(ops, { signal }));
  }

  /**
   * Adds a persistent watch (PERSISTENT: the node's own events; PERSISTENT_RECURSIVE: events of the
   * node and every descendant, except NodeChildrenChanged). Resolves to an unsubscribe function;
   * when the last listener for that path and mode goes, the watch is removed on the server too.
   */
  async addWatch(
    path: string,
    mode: AddWatchMode,
    listener: WatchListener,
    opts: CallOptions = {},
  ): Promise<() => Promise<void>> {
    validatePath(path);
    if (mode !== 'PERSISTENT' && mode !== 'PERSISTENT_RECURSIVE') {
      throw new BadArgumentsError(
        `addWatch mode must be PERSISTENT or PERSISTENT_RECURSIVE, got ${String(mode)}`,
        path,
      );
    }
    if (typeof listener !== 'function')
      throw new BadArgumentsError('addWatch needs a listener function', path);
    const kind = kindOfMode(mode);
    // Registered before sending so a concurrent unsubscribe of another listener on the same watch
    // does not remove it server-side while this add is in flight.
    this.watches.add(path, kind, listener);
    try {
      await this.call({ op: 'addWatch', path: this.chroot.toServer(path), mode }, path, opts.signal);
    } catch (err) {
      this.watches.remove(path, kind, listener);
      throw err;
    }
    let removed = false;
    return async () => {
      if (removed) return;
      removed = true;
      if (!this.watches.remove(path, kind, listener)) return;
      try {
        await this.call(
          { op: 'removeWatches', path: this.chroot.toServer(path), type: kind },
          path,
          undefined,
        );
      } catch (err) {
        // Disconnected or closed: the server drops the watch with the session, and setWatches no
        // longer re-registers it; NOWATCHER means it is gone already. Nothing left to undo.
        if (
          err instanceof ConnectionLossError ||
          err instanceof SessionExpiredError ||
          err instanceof NoWatcherError
        ) {
          return;
        }
        throw err;
      }
    };
  }

  /**
   * Removes every watch of `type` on `path`, server and client side; each removed listener is
   * told with a DataWatchRemoved / ChildWatchRemoved / PersistentWatchRemoved event.
   * NoWatcherError when there was none.
   */
  async removeWatches(path: string, type: WatcherType, opts: CallOptions = {}): Promise<void> {
    validatePath(path);
    const types: WatcherType[] = ['children', 'data', 'any', 'persistent', 'persistentRecursive'];
    if (!types.includes(type)) {
      throw new BadArgumentsError(
        `watcher type must be one of ${types.join(', ')}, got ${String(type)}`,
        path,
      );
    }
    const f = await this.call(
      { op: 'removeWatches', path: this.chroot.toServer(path), type },
      path,
      opts.signal,
      undefined,
      false,
      true,
    );
    if (f.err !== 0 && f.err !== ErrorCode.NOWATCHER) throw ConclaveError.from(f.err, path);
    // NOWATCHER with listeners here: the server lost them (e.g. an aborted read); still ours to drop.
    const removed = this.watches.removeAll(path, type);
    if (f.err === ErrorCode.NOWATCHER && removed.length === 0) throw ConclaveError.from(f.err, path);
    for (const { listener, event } of removed) this.session.deliver(event, [listener]);
  }

  /** Adds credentials to the session (e.g. 'digest', 'user:password'); re-sent on every reconnect. */
  async addAuth(scheme: string, auth: string | Uint8Array, opts: CallOptions = {}): Promise<void> {
    if (typeof scheme !== 'string' || scheme.length === 0)
      throw new BadArgumentsError('addAuth needs a scheme');
    checkSignal(opts.signal);
    const bytes = toBytes(auth, this.limits.maxDataBytes, '/');
    const refusal = this.session.refusal();
    if (refusal) throw refusal;
    await this.session.addAuth(scheme, bytes, opts.signal);
  }

  /** The ephemerals this session owns (whose path starts with `prefix`), in client paths. */
  async getEphemerals(prefix = '/', opts: CallOptions = {}): Promise<string[]> {
    validatePath(prefix);
    const f = await this.call(
      { op: 'getEphemerals', prefix: this.chroot.toServer(prefix) },
      prefix,
      opts.signal,
    );
    const out: string[] = [];
    for (const p of (f.paths as string[]) ?? []) {
      try {
        out.push(this.chroot.toClient(p));
      } catch {
        // an ephemeral outside our chroot
      }
    }
    return out;
  }

  /** Every descendant of `path`, counted on the server. */
  async getAllChildrenNumber(path: string, opts: CallOptions = {}): Promise<number> {
    validatePath(path);
    const f = await this.call(
      { op: 'getAllChildrenNumber', path: this.chroot.toServer(path) },
      path,
      opts.signal,
    );
    return f.count as number;
  }

  /** The identities this session is authenticated as. */
  async whoAmI(opts: CallOptions = {}): Promise<{ scheme: string; id: string }[]> {
    const f = await this.call({ op: 'whoAmI' }, undefined, opts.signal);
    return f.ids as { scheme: string; id: string }[];
  }

  /**
   * `{ data, stat }` now and after every change, `null` while the node does not exist (see
   * observables.ts for the exact semantics). Cold: each subscription reads and watches on its own.
   */
  data$(path: string): Observable<NodeData | null> {
    return dataObservable(this.source, path);
  }

  /** The sorted child names now and after every change, `null` while the node does not exist. */
  children$(path: string): Observable<string[] | null> {
    return childrenObservable(this.source, path);
  }

  /**
   * Closes the socket as if the network had dropped it: the client goes SUSPENDED, reconnects to a
   * member and re-registers its watches. For tests, and to move a client off a member.
   */
  dropConnection(): void {
    this.session.dropConnection();
  }

  /** Closes the session (its ephemerals go at once) and the connection. Idempotent. */
  close(): Promise<void> {
    return this.session.close();
  }

  /** `await using client = await connect(...)` closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Encodes and sends one request; resolves with the response frame, or rejects with the typed
   * error of its `err` (unless `rawErr`, or `okErr` names an err that is an answer, not a failure).
   * `onReply` runs synchronously when the response arrives (watch registration).
   */
  private async call(
    req: Request,
    path: string | undefined,
    signal: AbortSignal | undefined,
    onReply?: (frame: ResponseFrame) => void,
    noNodeIsAnswer = false,
    rawErr = false,
  ): Promise<ResponseFrame> {
    checkSignal(signal);
    if (signal?.aborted) throw signal.reason;
    const refusal = this.session.refusal();
    if (refusal) throw refusal;
    const xid = this.session.nextXid();
    const bytes = encodeFrame({ xid, ...req });
    if (bytes.length > this.limits.maxFrameBytes) {
      throw new BadArgumentsError(
        `the ${req.op} request is ${bytes.length} bytes, over the ${this.limits.maxFrameBytes}-byte frame limit (maxFrameBytes)`,
        path,
      );
    }
    const f = await this.session.submit(xid, bytes, signal, onReply);
    if (f.err !== 0 && !rawErr && !(noNodeIsAnswer && f.err === ErrorCode.NONODE)) {
      throw ConclaveError.from(f.err, path);
    }
    return f;
  }
}

/** cbor-x hands byte strings out as Buffers; callers get plain Uint8Arrays (a view, no copy). */
function plainBytes(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) return new Uint8Array(0);
  return value.constructor === Uint8Array
    ? value
    : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}
