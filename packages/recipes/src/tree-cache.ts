/**
 * TreeCache: a local, always-current copy of a whole subtree (Curator's TreeCache / CuratorCache):
 * every node under `path` (down to `depth` levels below it) with its data and stat.
 *
 * ```ts
 * const cache = new TreeCache(client, '/services', { depth: 2 });
 * cache.events$.subscribe((e) => e.type !== 'initialized' && console.log(e.type, e.path));
 * await cache.start();
 * for (const [path, node] of cache.current()) console.log(path, node.stat.version);
 * ```
 *
 * How: one persistent-recursive watch (`addWatch(path, 'PERSISTENT_RECURSIVE')`) reports every
 * create, delete and data change below `path`; each report is handled by reading the node again
 * (never by trusting the event alone), one at a time in arrival order, so the cache converges on
 * the server's state. A created node is loaded with its whole subtree, a deleted one removed with
 * its subtree.
 *
 * Events: 'added', 'updated', 'removed' per node, 'initialized' once after the first full load;
 * a late subscriber first receives the current content as 'added' events and 'initialized'.
 *
 * Connection states: SUSPENDED and LOST → the cache keeps serving its (possibly stale) content;
 * it holds nothing, and after a LOST the client may still come back on the same session.
 * RECONNECTED → events may have been missed while disconnected, so the whole tree is read again
 * and diffed against the cache: the cache is rebuilt and emits exactly what changed.
 * EXPIRED/CLOSED → `events$` errors with SessionLostError and the cache stops (its last content
 * stays readable).
 *
 * Failure cases: a connection loss during start-up (adding the watch, the first load) redoes the
 * whole start-up once connected, so `start()` still resolves; `start({ signal })` bounds that
 * wait. A node that vanishes between a listing and its read is simply not there. Each refresh is
 * bounded by the tree's size; a subtree changing faster than it can be read still converges once
 * changes pause.
 */
import {
  BadArgumentsError,
  isConclaveError,
  joinPath,
  type WatchedEvent,
  validatePath,
} from '@conclave/core';
import type { Subscription } from 'rxjs';
import { type CachedNode, CacheEventStream, diffNode } from './internal/cache-events.js';
import { RecipeClosedError, SessionLostError } from './errors.js';
import { raceAbort, sleep } from './internal/abort.js';
import { backoffMs, isRetryable, toSessionLost, whenConnected } from './internal/retry.js';
import { isSessionEnded } from './internal/session-state.js';
import type { RecipeClient } from './recipe-client.js';

export class TreeCache implements AsyncDisposable {
  private readonly nodes = new Map<string, CachedNode>();
  private readonly stream: CacheEventStream;
  private readonly maxDepth: number;
  private started = false;
  private closed = false;
  private failure: unknown;
  private unwatch: (() => Promise<void>) | undefined;
  private stateSub: Subscription | undefined;
  /** Work is done one task at a time, in order: the cache's single writer. */
  private chain: Promise<void> = Promise.resolve();
  /** Aborted by close(): ends a retry's wait for the connection. */
  private readonly closing = new AbortController();

  constructor(
    private readonly client: RecipeClient,
    readonly path: string,
    opts: { depth?: number } = {},
  ) {
    validatePath(path);
    this.maxDepth = opts.depth ?? Number.POSITIVE_INFINITY;
    if (!(this.maxDepth >= 0)) {
      throw new BadArgumentsError(
        `TreeCache: depth must be ≥ 0 (or omitted for no limit), got ${opts.depth}`,
        path,
      );
    }
    this.stream = new CacheEventStream(
      () => this.sortedEntries(),
      () => this.begin(),
    );
  }

  /** What happened in the subtree; subscribing starts the cache. */
  get events$() {
    return this.stream.events$;
  }

  /**
   * Starts the cache; resolves once the initial load is done, also when it had to wait for the
   * connection. Rejects with SessionLostError if the session ends first, with RecipeClosedError
   * if the cache is closed first, and with `signal.reason` on abort — which also closes the cache.
   */
  async start(opts: { signal?: AbortSignal } = {}): Promise<void> {
    opts.signal?.throwIfAborted();
    if (this.closed) throw new RecipeClosedError(this.path, 'TreeCache');
    this.begin();
    try {
      await raceAbort(this.stream.whenInitialized(), opts.signal);
    } catch (err) {
      if (opts.signal?.aborted) await this.close();
      if (this.closed && !opts.signal?.aborted) throw new RecipeClosedError(this.path, 'TreeCache');
      throw err;
    }
  }

  /** Starts the watch and the initial load, once; does not wait for them. */
  private begin(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.stateSub = this.client.state$.subscribe((state) => {
      if (isSessionEnded(state)) this.fail(new SessionLostError(this.path, state, 'caching the subtree'));
      else if (state === 'RECONNECTED' && this.stream.initialized) this.enqueue(() => this.resync());
    });
    this.enqueue(() => this.startUp());
  }

  /**
   * Adds the watch (unless an earlier attempt did), loads the tree and says 'initialized'. The
   * whole of it is repeated after a connection loss: a failed addWatch leaves no listener behind.
   */
  private async startUp(): Promise<void> {
    this.unwatch ??= await this.client.addWatch(this.path, 'PERSISTENT_RECURSIVE', this.onEvent);
    await this.resync();
    if (!this.stream.initialized) this.stream.emit({ type: 'initialized' });
  }

  /** The node at `path` as last seen, or undefined. */
  get(path: string): CachedNode | undefined {
    return this.nodes.get(path);
  }

  /** Every cached node by path (a live read-only view). */
  current(): ReadonlyMap<string, CachedNode> {
    return this.nodes;
  }

  /** The cached children names of `path`, sorted. */
  children(path: string): string[] {
    const prefix = path === '/' ? '/' : `${path}/`;
    const out: string[] = [];
    for (const p of this.nodes.keys()) {
      if (p.startsWith(prefix) && p !== path && !p.slice(prefix.length).includes('/'))
        out.push(p.slice(prefix.length));
    }
    return out.sort();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort(new RecipeClosedError(this.path, 'TreeCache'));
    this.stateSub?.unsubscribe();
    this.stream.complete();
    await this.unwatch?.().catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private readonly onEvent = (event: WatchedEvent): void => {
    if (this.closed || this.depthOf(event.path) > this.maxDepth) return;
    if (event.type === 'NodeDataChanged') this.enqueue(() => this.refreshData(event.path));
    else if (
      event.type === 'NodeCreated' ||
      event.type === 'NodeDeleted' ||
      event.type === 'NodeChildrenChanged'
    ) {
      this.enqueue(() => this.refreshSubtree(event.path));
    }
  };

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(async () => {
      for (let attempt = 1; ; attempt++) {
        if (this.closed || this.failure !== undefined) return;
        try {
          await task();
          return;
        } catch (err) {
          if (!isRetryable(err)) {
            this.fail(toSessionLost(err, this.path, 'caching the subtree'));
            return;
          }
          try {
            // The pause: right after a failure the client may still say CONNECTED.
            await sleep(backoffMs(attempt), this.closing.signal);
            await whenConnected(this.client, this.closing.signal, { throughLost: true });
          } catch (e) {
            if (!this.closed) this.fail(e);
            return;
          }
          // Events may have been lost with the connection: once back, rebuild from scratch — or,
          // before the first load finished, redo the whole start-up (the watch may not exist).
          task = this.stream.initialized ? () => this.resync() : () => this.startUp();
        }
      }
    });
  }

  /** Re-reads one node's data (its children are unaffected by a data change). */
  private async refreshData(path: string): Promise<void> {
    let after: CachedNode | undefined;
    try {
      after = await this.client.getData(path);
    } catch (err) {
      if (!isConclaveError(err, 'NONODE')) throw err;
    }
    if (after === undefined) this.removeSubtree(path);
    else this.put(path, after);
  }

  /** Re-reads `path` and everything below it, and replaces that part of the cache. */
  private async refreshSubtree(path: string): Promise<void> {
    const fresh = new Map<string, CachedNode>();
    await this.load(path, fresh);
    this.replaceSubtree(path, fresh);
  }

  /** Re-reads the whole tree: the initial load, and the rebuild after a reconnect. */
  private resync(): Promise<void> {
    return this.refreshSubtree(this.path);
  }

  private async load(path: string, into: Map<string, CachedNode>): Promise<void> {
    let node: CachedNode;
    let children: string[] = [];
    try {
      node = await this.client.getData(path);
      if (this.depthOf(path) < this.maxDepth) children = (await this.client.getChildren(path)).children;
    } catch (err) {
      if (isConclaveError(err, 'NONODE')) return;
      throw err;
    }
    into.set(path, node);
    await Promise.all(children.map((c) => this.load(joinPath(path, c), into)));
  }

  private replaceSubtree(path: string, fresh: Map<string, CachedNode>): void {
    // Removals deepest first, then additions and updates parents first: the order a reader
    // replaying the events would need to keep a consistent tree.
    const gone = this.subtreePaths(path).filter((p) => !fresh.has(p));
    for (const p of gone.sort((a, b) => b.length - a.length)) this.removeOne(p);
    for (const p of [...fresh.keys()].sort((a, b) => a.length - b.length || (a < b ? -1 : 1))) {
      this.put(p, fresh.get(p) as CachedNode);
    }
  }

  private removeSubtree(path: string): void {
    for (const p of this.subtreePaths(path).sort((a, b) => b.length - a.length)) this.removeOne(p);
  }

  private put(path: string, node: CachedNode): void {
    const event = diffNode(path, this.nodes.get(path), node);
    if (event === null) return;
    this.nodes.set(path, node);
    this.stream.emit(event);
  }

  private removeOne(path: string): void {
    const event = diffNode(path, this.nodes.get(path), undefined);
    this.nodes.delete(path);
    if (event !== null) this.stream.emit(event);
  }

  private subtreePaths(path: string): string[] {
    const prefix = path === '/' ? '/' : `${path}/`;
    return [...this.nodes.keys()].filter((p) => p === path || p.startsWith(prefix));
  }

  private sortedEntries(): [string, CachedNode][] {
    return [...this.nodes.entries()].sort(([a], [b]) => a.length - b.length || (a < b ? -1 : 1));
  }

  /** Levels below the cache root (0 for the root itself). */
  private depthOf(path: string): number {
    if (path === this.path) return 0;
    const rest = this.path === '/' ? path.slice(1) : path.slice(this.path.length + 1);
    return rest.split('/').length;
  }

  private fail(err: unknown): void {
    if (this.failure !== undefined || this.closed) return;
    this.failure = err;
    this.stream.error(err);
  }
}
