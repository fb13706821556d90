import type { Stat } from '@conclave/core';
import { filter, firstValueFrom, Observable, Subject } from 'rxjs';

/** A node as a cache holds it. */
export interface CachedNode {
  data: Uint8Array;
  stat: Stat;
}

/** What NodeCache and TreeCache report, in the order they learned it. */
export type CacheEvent =
  | { type: 'added'; path: string; data: Uint8Array; stat: Stat }
  | { type: 'updated'; path: string; data: Uint8Array; stat: Stat }
  | { type: 'removed'; path: string; data: Uint8Array; stat: Stat }
  | { type: 'initialized' };

/**
 * The event stream of a cache. A late subscriber first gets the cache's current content as
 * 'added' events and 'initialized' (when the initial load is done), then the live events, so no
 * one has to race the cache's start to see a consistent picture.
 */
export class CacheEventStream {
  private readonly subject = new Subject<CacheEvent>();
  initialized = false;
  /** The error that stopped the stream, if any. */
  failure: unknown;
  readonly events$: Observable<CacheEvent>;

  constructor(snapshot: () => Iterable<[string, CachedNode]>, onSubscribe: () => void) {
    this.events$ = new Observable<CacheEvent>((subscriber) => {
      if (this.initialized) {
        for (const [path, node] of snapshot()) subscriber.next({ type: 'added', path, ...node });
        subscriber.next({ type: 'initialized' });
      }
      const sub = this.subject.subscribe(subscriber);
      onSubscribe();
      return sub;
    });
  }

  emit(event: CacheEvent): void {
    if (event.type === 'initialized') this.initialized = true;
    this.subject.next(event);
  }

  error(err: unknown): void {
    this.failure ??= err;
    this.subject.error(err);
  }

  /** Resolves once the initial load is done (at once if it is); rejects with the stream's error. */
  async whenInitialized(): Promise<void> {
    if (this.initialized) return;
    if (this.failure !== undefined) throw this.failure;
    await firstValueFrom(this.events$.pipe(filter((e) => e.type === 'initialized')));
  }

  complete(): void {
    this.subject.complete();
  }
}

/** The event for a node going from `before` to `after` (undefined: absent), or none if unchanged. */
export function diffNode(
  path: string,
  before: CachedNode | undefined,
  after: CachedNode | undefined,
): CacheEvent | null {
  if (after === undefined) return before === undefined ? null : { type: 'removed', path, ...before };
  if (before === undefined) return { type: 'added', path, ...after };
  if (before.stat.czxid !== after.stat.czxid) return { type: 'updated', path, ...after }; // re-created
  if (after.stat.mzxid > before.stat.mzxid) return { type: 'updated', path, ...after };
  return null;
}
