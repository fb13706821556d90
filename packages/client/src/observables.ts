import {
  ConnectionLossError,
  NoNodeError,
  SessionExpiredError,
  type Stat,
  type WatchedEvent,
  validatePath,
} from '@conclave/core';
import { Observable } from 'rxjs';
import { type ConnectionState, isConnectedState } from './connection-state.js';
import type { WatchListener } from './watch-registry.js';

/**
 * `data$(path)` and `children$(path)`: a node's current value and then every change, built on
 * one-shot watches the way Curator's NodeCache is.
 *
 * Each read arms the next watch in the same request (getData/getChildren with a watch, or exists
 * with a watch when the node is absent), so there is no window in which a change goes unseen; a
 * watch event only triggers a re-read, and the value emitted is always what the server returned
 * after the change. Several changes between two reads are seen as one (ZooKeeper semantics: you
 * always converge on the latest state, not on every intermediate one). Consecutive equal values
 * are not repeated.
 *
 * Connection states: while SUSPENDED nothing is emitted; on RECONNECTED the value is re-read (the
 * server also fires missed watches via setWatches). EXPIRED errors the stream with
 * SessionExpiredError; CLOSED completes it (subscribing to an already closed client errors with
 * SessionExpiredError, as any call does). Other errors (e.g. NOAUTH) error the stream. A bad path
 * throws BadArgumentsError at once, when the Observable is made.
 */

export interface NodeData {
  data: Uint8Array;
  stat: Stat;
}

/** What the observables need from the client. */
export interface WatchSource {
  getData(path: string, opts: { watch: WatchListener; signal: AbortSignal }): Promise<NodeData>;
  exists(path: string, opts: { watch: WatchListener; signal: AbortSignal }): Promise<Stat | null>;
  getChildren(
    path: string,
    opts: { watch: WatchListener; signal: AbortSignal },
  ): Promise<{ children: string[] }>;
  readonly state: ConnectionState;
  readonly state$: Observable<ConnectionState>;
  /** Drops a one-shot listener client-side when the subscriber goes (its server watch just fires once into nothing). */
  forget(path: string, listener: WatchListener): void;
}

/** Bound on back-to-back create/delete races inside one read (absent, then present, then absent…). */
const MAX_READ_ROUNDS = 100;
const RETRY_AFTER_LOSS_MS = 100;

export function dataObservable(src: WatchSource, path: string): Observable<NodeData | null> {
  validatePath(path);
  return watchedValue<NodeData | null>(
    src,
    path,
    async (watch, signal) => {
      for (let round = 0; round < MAX_READ_ROUNDS; round++) {
        try {
          return await src.getData(path, { watch, signal });
        } catch (err) {
          if (!(err instanceof NoNodeError)) throw err;
        }
        // Absent: arm an exist watch; if it was created in between, read it again.
        if ((await src.exists(path, { watch, signal })) === null) return null;
      }
      throw new Error(`data$(${path}): the node kept appearing and vanishing for ${MAX_READ_ROUNDS} reads`);
    },
    (a, b) =>
      a === null || b === null ? a === b : a.stat.czxid === b.stat.czxid && a.stat.mzxid === b.stat.mzxid,
  );
}

export function childrenObservable(src: WatchSource, path: string): Observable<string[] | null> {
  validatePath(path);
  return watchedValue<string[] | null>(
    src,
    path,
    async (watch, signal) => {
      for (let round = 0; round < MAX_READ_ROUNDS; round++) {
        try {
          const { children } = await src.getChildren(path, { watch, signal });
          return [...children].sort();
        } catch (err) {
          if (!(err instanceof NoNodeError)) throw err;
        }
        if ((await src.exists(path, { watch, signal })) === null) return null;
      }
      throw new Error(
        `children$(${path}): the node kept appearing and vanishing for ${MAX_READ_ROUNDS} reads`,
      );
    },
    (a, b) => (a === null || b === null ? a === b : a.length === b.length && a.every((x, i) => x === b[i])),
  );
}

function watchedValue<T>(
  src: WatchSource,
  path: string,
  read: (watch: WatchListener, signal: AbortSignal) => Promise<T>,
  same: (a: T, b: T) => boolean,
): Observable<T> {
  return new Observable<T>((subscriber) => {
    const ac = new AbortController();
    let active = true;
    let reading = false;
    let again = false;
    let hasValue = false;
    let last: T | undefined;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;

    const listener: WatchListener = (_event: WatchedEvent) => {
      if (active) refresh();
    };

    // Reads never overlap: an event during a read schedules exactly one more read after it.
    const refresh = (): void => {
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      void loop();
    };

    const loop = async (): Promise<void> => {
      try {
        do {
          again = false;
          const value = await read(listener, ac.signal);
          if (!active) return;
          if (!hasValue || !same(last as T, value)) {
            hasValue = true;
            last = value;
            subscriber.next(value);
          }
        } while (again && active);
      } catch (err) {
        if (!active) return;
        if (err instanceof ConnectionLossError) {
          // Re-read on RECONNECTED; if we are (again) connected already, shortly.
          if (isConnectedState(src.state)) retryTimer = setTimeout(refresh, RETRY_AFTER_LOSS_MS);
          return;
        }
        subscriber.error(err);
      } finally {
        reading = false;
      }
    };

    let initial = true;
    const stateSub = src.state$.subscribe((state) => {
      if (state === 'EXPIRED') {
        active = false;
        subscriber.error(new SessionExpiredError(`data watched at ${path} is gone with the session`));
      } else if (state === 'CLOSED') {
        active = false;
        // Closed while subscribed: the stream simply ends. Subscribed to an already closed client:
        // an error, as every call on a closed client is (an empty stream would hide the mistake).
        if (initial)
          subscriber.error(
            new SessionExpiredError('the client is closed; create a new client with connect()'),
          );
        else subscriber.complete();
      } else if (state === 'RECONNECTED' && !initial && active) {
        refresh();
      }
    });
    initial = false;
    if (active) refresh();

    return () => {
      active = false;
      ac.abort(new Error('unsubscribed'));
      clearTimeout(retryTimer);
      stateSub.unsubscribe();
      src.forget(path, listener);
    };
  });
}
