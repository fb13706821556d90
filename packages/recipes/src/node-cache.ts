/**
 * NodeCache: a local, always-current copy of one znode (Curator's NodeCache / CuratorCache for a
 * single node): `current()` answers from memory, `events$` says what changed.
 *
 * ```ts
 * const cache = new NodeCache(client, '/config/feature-flags');
 * cache.events$.subscribe((e) => console.log(e.type));   // 'added' | 'updated' | 'removed' | 'initialized'
 * await cache.start();                                    // resolves once loaded
 * const flags = cache.current()?.data;
 * ```
 *
 * Events: 'added' when the node appears (or at load), 'updated' on a data change (or when it was
 * deleted and re-created), 'removed' when it is deleted, 'initialized' once after the first load.
 * A subscriber that comes late first receives the current content ('added' + 'initialized').
 *
 * Connection states: SUSPENDED and LOST → the cache keeps its content (possibly stale) and keeps
 * serving it (it holds nothing, and after a LOST the client may still come back on the same
 * session). RECONNECTED → it re-reads the node and emits whatever changed while disconnected (the
 * cache is rebuilt, not trusted). EXPIRED/CLOSED → `events$` errors with SessionLostError and the
 * cache stops (its last content stays readable); build a new cache on a new client. A start while
 * disconnected loads once the connection is back; `start({ signal })` bounds that wait.
 */
import { validatePath } from '@conclave/core';
import type { Subscription } from 'rxjs';
import type { RecipeClient } from './recipe-client.js';
import { raceAbort } from './internal/abort.js';
import { type CachedNode, CacheEventStream, diffNode } from './internal/cache-events.js';
import { watchNode } from './internal/watch-node.js';

export class NodeCache implements AsyncDisposable {
  private node: CachedNode | undefined;
  private sub: Subscription | undefined;
  private readonly stream: CacheEventStream;

  constructor(
    private readonly client: RecipeClient,
    readonly path: string,
  ) {
    validatePath(path);
    this.stream = new CacheEventStream(
      () => (this.node === undefined ? [] : [[this.path, this.node]]),
      () => this.startWatching(),
    );
  }

  /** What happened to the node; subscribing starts the cache. */
  get events$() {
    return this.stream.events$;
  }

  /**
   * Starts the cache; resolves once the initial load is done, also when it had to wait for the
   * connection. Rejects with SessionLostError if the session ends first, and with `signal.reason`
   * on abort — which also closes the cache.
   */
  async start(opts: { signal?: AbortSignal } = {}): Promise<void> {
    opts.signal?.throwIfAborted();
    this.startWatching();
    try {
      await raceAbort(this.stream.whenInitialized(), opts.signal);
    } catch (err) {
      if (opts.signal?.aborted) this.close();
      throw err;
    }
  }

  /** The node as last seen, or undefined when it does not exist (or the cache is not loaded). */
  current(): CachedNode | undefined {
    return this.node;
  }

  /** `current()` if `path` is the cached path (for symmetry with TreeCache). */
  get(path: string = this.path): CachedNode | undefined {
    return path === this.path ? this.node : undefined;
  }

  close(): void {
    this.sub?.unsubscribe();
    this.stream.complete();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  private startWatching(): void {
    if (this.sub !== undefined) return;
    this.sub = watchNode(this.client, this.path).subscribe({
      next: (snap) => {
        const after = snap ?? undefined;
        const event = diffNode(this.path, this.node, after);
        this.node = after;
        if (event !== null) this.stream.emit(event);
        if (!this.stream.initialized) this.stream.emit({ type: 'initialized' });
      },
      error: (err) => this.stream.error(err),
    });
  }
}
