/**
 * ServiceDiscovery: services register their instances; clients find them and load-balance on
 * the client side (Curator's ServiceDiscovery + ServiceProvider). An instance is an ephemeral
 * node `<basePath>/<name>/<id>` holding a JSON record, so it disappears when its process dies
 * and its session expires.
 *
 * ```ts
 * const discovery = new ServiceDiscovery(client, '/services');
 * await using reg = await discovery.register({ name: 'api', id: 'api-1', address: '10.0.0.5', port: 8080 });
 * // elsewhere:
 * const instance = await discovery.pick('api', { strategy: 'round-robin' });
 * discovery.instances$('api').subscribe((all) => console.log(all.length, 'api instances'));
 * ```
 *
 * Connection states: for a registering process, SUSPENDED means the registration may be dropped
 * if the session expires before reconnecting; RECONNECTED means it is still there (also after a
 * LOST: the same session came back, so the node survived); LOST means presume it gone, EXPIRED
 * that it is gone (register again with a new client). For a discovering process, `instances$` and
 * the cache behind `pick()` keep the last known list while SUSPENDED or LOST, refresh on
 * RECONNECTED, and error with SessionLostError on EXPIRED/CLOSED (then `pick()` rejects with it).
 *
 * Failure cases: a registration retried after CONNECTIONLOSS finds its own node; an id registered
 * by another live session → NodeExistsError. A record that is not valid JSON is skipped (it is not
 * one of ours). `pick()` resolves null when there is no instance.
 */
import { BadArgumentsError, joinPath, validatePath } from '@conclave/core';
import { firstValueFrom, map, type Observable, shareReplay, type Subscription } from 'rxjs';
import { watchChildrenWithData } from './internal/children-data.js';
import type { RecipeClient } from './recipe-client.js';
import { fromUtf8, utf8 } from './internal/codec.js';
import { createOwnEphemeral, validateId } from './internal/ephemeral.js';
import { type HoldState, HoldTracker } from './internal/hold.js';
import { deleteIfExists, ensurePath } from './internal/paths.js';

/** One registered instance of a service. */
export interface ServiceInstance<P = unknown> {
  name: string;
  id: string;
  address: string;
  port: number;
  payload?: P;
  /** When it registered (ms since the epoch, the registering process's clock). */
  registeredAtMs: number;
}

/** A live registration: unregister it, or let `await using` do so. */
export interface Registration extends AsyncDisposable {
  readonly instance: ServiceInstance;
  /** 'held' while registered, 'suspended' while disconnected, 'lost' once the session is gone. */
  readonly status$: Observable<HoldState>;
  unregister(): Promise<void>;
}

export type PickStrategy = 'round-robin' | 'random';

export class ServiceDiscovery implements AsyncDisposable {
  private readonly caches = new Map<string, { list$: Observable<ServiceInstance[]>; sub: Subscription }>();
  private readonly cursors = new Map<string, number>();

  constructor(
    private readonly client: RecipeClient,
    readonly basePath: string,
  ) {
    validatePath(basePath);
  }

  /** Registers an instance (an ephemeral node) and resolves once it is visible to everyone. */
  async register<P>(
    instance: { name: string; id: string; address: string; port: number; payload?: P },
    opts: { signal?: AbortSignal } = {},
  ): Promise<Registration> {
    validateId(instance.name, 'ServiceDiscovery name');
    validateId(instance.id, 'ServiceDiscovery id');
    if (!Number.isInteger(instance.port) || instance.port < 0 || instance.port > 65535) {
      throw new BadArgumentsError(
        `ServiceDiscovery: port must be an integer in [0, 65535], got ${instance.port}`,
        joinPath(this.basePath, instance.name),
      );
    }
    const record: ServiceInstance<P> = { ...instance, registeredAtMs: Date.now() };
    const servicePath = joinPath(this.basePath, instance.name);
    const path = joinPath(servicePath, instance.id);
    await ensurePath(this.client, servicePath, opts.signal);
    await createOwnEphemeral(
      this.client,
      path,
      utf8(JSON.stringify(record)),
      'ServiceDiscovery',
      opts.signal,
    );
    const hold = new HoldTracker(this.client);
    hold.held();
    const unregister = async () => {
      await deleteIfExists(this.client, path);
      hold.released();
    };
    return { instance: record, status$: hold.status$, unregister, [Symbol.asyncDispose]: unregister };
  }

  /** The instances of `name`, sorted by id: now, then after every change. */
  instances$<P = unknown>(name: string): Observable<ServiceInstance<P>[]> {
    validateId(name, 'ServiceDiscovery name');
    return watchChildrenWithData(this.client, joinPath(this.basePath, name)).pipe(
      map((entries) => {
        const out: ServiceInstance<P>[] = [];
        for (const e of entries) {
          try {
            out.push(JSON.parse(fromUtf8(e.data)) as ServiceInstance<P>);
          } catch {
            // Not a record of ours: skip it rather than fail every watcher of the service.
          }
        }
        return out;
      }),
    );
  }

  /**
   * Picks one instance of `name` for a request (client-side load balancing), or null when none is
   * registered. The first call for a name starts a watch-maintained cache; later calls are local.
   */
  async pick<P = unknown>(
    name: string,
    opts: { strategy?: PickStrategy } = {},
  ): Promise<ServiceInstance<P> | null> {
    const list = (await firstValueFrom(this.cached(name))) as ServiceInstance<P>[];
    if (list.length === 0) return null;
    if (opts.strategy === 'random') return list[Math.floor(Math.random() * list.length)] ?? null;
    const cursor = this.cursors.get(name) ?? 0;
    this.cursors.set(name, cursor + 1);
    return list[cursor % list.length] ?? null;
  }

  /** Stops the caches `pick()` started. */
  close(): void {
    for (const { sub } of this.caches.values()) sub.unsubscribe();
    this.caches.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  private cached(name: string): Observable<ServiceInstance[]> {
    let cache = this.caches.get(name);
    if (cache === undefined) {
      const list$ = this.instances$(name).pipe(shareReplay({ bufferSize: 1, refCount: false }));
      // Keep it hot so picks after the first are answered from memory; an error (session gone)
      // drops the cache so the next pick reports it.
      const sub = list$.subscribe({ error: () => this.caches.delete(name) });
      cache = { list$, sub };
      this.caches.set(name, cache);
    }
    return cache.list$;
  }
}
