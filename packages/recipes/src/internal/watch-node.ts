import { isConclaveError, type Stat } from '@conclave/core';
import { Observable } from 'rxjs';
import { SessionLostError } from '../errors.js';
import type { RecipeClient } from '../recipe-client.js';
import { isRetryable, whenConnected } from './retry.js';
import { isSessionEnded } from './session-state.js';

/** A znode's data and stat as read at one moment. */
export interface NodeSnapshot {
  data: Uint8Array;
  stat: Stat;
}

/**
 * A serialized refresher: `run()` asks for one more pass of `pass`; passes never overlap and
 * requests that arrive during a pass collapse into one more pass. Because passes are sequential
 * and a session's replies come back in order, each pass sees state at least as new as the last —
 * which is what lets the observables below promise "never older after newer".
 */
export function serialRefresher(pass: () => Promise<void>, onError: (err: unknown) => void): () => void {
  let running = false;
  let again = false;
  const loop = async () => {
    running = true;
    try {
      do {
        again = false;
        await pass();
      } while (again);
    } catch (err) {
      onError(err);
    } finally {
      running = false;
    }
  };
  return () => {
    if (running) again = true;
    else void loop();
  };
}

/**
 * The loop both watchers below share. Each subscription reads with a one-shot watch whose firing
 * asks for the next read; reads are serialized (serialRefresher), retried after a connection loss,
 * and repeated after a reconnect, so a change missed while disconnected is still seen. A value is
 * emitted when `isNew()` (one per subscription) says so. Errors with SessionLostError when the
 * session is over (EXPIRED/CLOSED). A LOST is only a presumption and these hold nothing, so they
 * keep waiting through it: if the client comes back on the same session, they simply re-read.
 */
function rereading<T>(
  client: RecipeClient,
  path: string,
  what: string,
  read: (watch: () => void) => Promise<T>,
  isNew: () => (value: T) => boolean,
): Observable<T> {
  return new Observable<T>((subscriber) => {
    let closed = false;
    const shouldEmit = isNew();
    const onEvent = (): void => {
      if (!closed) refresh();
    };
    const refresh = serialRefresher(
      async () => {
        for (;;) {
          if (closed) return;
          try {
            const value = await read(onEvent);
            if (!closed && shouldEmit(value)) subscriber.next(value);
            return;
          } catch (err) {
            if (!isRetryable(err)) throw err;
            await whenConnected(client, undefined, { throughLost: true });
          }
        }
      },
      (err) => {
        if (!closed) subscriber.error(err);
      },
    );
    const sub = client.state$.subscribe((state) => {
      if (isSessionEnded(state)) subscriber.error(new SessionLostError(path, state, what));
      else if (state === 'RECONNECTED') refresh();
    });
    refresh();
    return () => {
      closed = true;
      sub.unsubscribe();
    };
  });
}

/**
 * Watches one path: emits the current snapshot (or null while the node is absent), then every
 * change. An unchanged node (same czxid and mzxid) is not re-emitted, and a snapshot older than the
 * last one emitted (smaller mzxid of the same node) is dropped.
 */
export function watchNode(client: RecipeClient, path: string): Observable<NodeSnapshot | null> {
  const read = async (watch: () => void): Promise<NodeSnapshot | null> => {
    for (let i = 0; i < 100; i++) {
      try {
        return await client.getData(path, { watch });
      } catch (err) {
        if (!isConclaveError(err, 'NONODE')) throw err;
      }
      // Absent: watch for its creation. If it was created in between, read it again.
      if ((await client.exists(path, { watch })) === null) return null;
    }
    throw new Error(`invariant: ${path} kept appearing and disappearing for 100 reads`);
  };
  return rereading(client, path, 'watching the node', read, () => {
    let emitted = false;
    let last: NodeSnapshot | null = null;
    return (snap) => {
      if (emitted) {
        if (snap === null && last === null) return false;
        if (snap !== null && last !== null && snap.stat.czxid === last.stat.czxid) {
          if (snap.stat.mzxid <= last.stat.mzxid) return false; // unchanged, or older than what we showed
        }
      }
      emitted = true;
      last = snap;
      return true;
    };
  });
}

/**
 * Watches the children of one path the same way: emits the sorted child names (null while the
 * node is absent), then every change.
 */
export function watchChildren(client: RecipeClient, path: string): Observable<string[] | null> {
  const read = async (watch: () => void): Promise<string[] | null> => {
    for (let i = 0; i < 100; i++) {
      try {
        const { children } = await client.getChildren(path, { watch });
        return [...children].sort();
      } catch (err) {
        if (!isConclaveError(err, 'NONODE')) throw err;
      }
      if ((await client.exists(path, { watch })) === null) return null;
    }
    throw new Error(`invariant: ${path} kept appearing and disappearing for 100 reads`);
  };
  return rereading(client, path, 'watching the children', read, () => {
    let last: string | undefined;
    return (children) => {
      const key = children === null ? '\u0000null' : children.join('/');
      if (key === last) return false;
      last = key;
      return true;
    };
  });
}
