import { type AddWatchMode, ancestors, type WatchedEvent, type WatcherType } from '@conclave/core';

/**
 * The client's half of the watches: who to call when a notification arrives, and what to
 * re-register (setWatches) after a reconnect. Paths here are the client's (chroot removed).
 *
 * Which listeners an event reaches follows ZooKeeper's ZKWatchManager.materialize:
 * - NodeCreated, NodeDataChanged: data and exist watches on the path;
 * - NodeDeleted: data, exist and child watches on the path;
 * - NodeChildrenChanged: child watches on the path;
 * - persistent watches on the path see every event; persistent-recursive watches on the path or
 *   any ancestor see every event except NodeChildrenChanged.
 * One-shot watches are removed as they fire; persistent ones stay until removed. A listener
 * registered several ways for one event is called once.
 */

export type WatchListener = (event: WatchedEvent) => void;
export type OneShotKind = 'data' | 'exist' | 'child';
export type WatchKind = OneShotKind | 'persistent' | 'persistentRecursive';

/** Bound on listeners per (path, kind): a loop that re-adds without removing is a bug to surface. */
export const MAX_LISTENERS_PER_WATCH = 10_000;

export function kindOfMode(mode: AddWatchMode): 'persistent' | 'persistentRecursive' {
  return mode === 'PERSISTENT' ? 'persistent' : 'persistentRecursive';
}

/** The event a listener is told when its watch of this kind is removed. */
const REMOVED_EVENT: Record<WatchKind, WatchedEvent['type']> = {
  data: 'DataWatchRemoved',
  exist: 'DataWatchRemoved',
  child: 'ChildWatchRemoved',
  persistent: 'PersistentWatchRemoved',
  persistentRecursive: 'PersistentWatchRemoved',
};

export class WatchRegistry {
  private readonly byKind: Record<WatchKind, Map<string, Set<WatchListener>>> = {
    data: new Map(),
    exist: new Map(),
    child: new Map(),
    persistent: new Map(),
    persistentRecursive: new Map(),
  };

  add(path: string, kind: WatchKind, listener: WatchListener): void {
    const map = this.byKind[kind];
    let set = map.get(path);
    if (!set) map.set(path, (set = new Set()));
    if (set.size >= MAX_LISTENERS_PER_WATCH && !set.has(listener)) {
      throw new Error(
        `too many listeners (${MAX_LISTENERS_PER_WATCH}) for the ${kind} watch on ${path}: listeners are never dropped unless removed`,
      );
    }
    set.add(listener);
  }

  /** Removes one listener; true when it was the last for that (path, kind). */
  remove(path: string, kind: WatchKind, listener: WatchListener): boolean {
    const map = this.byKind[kind];
    const set = map.get(path);
    if (!set?.delete(listener)) return false;
    if (set.size > 0) return false;
    map.delete(path);
    return true;
  }

  has(path: string, kind: WatchKind): boolean {
    return (this.byKind[kind].get(path)?.size ?? 0) > 0;
  }

  /**
   * Removes every listener of the watcher `type` on `path` (removeWatches), returning them with the
   * event type each must be told (DataWatchRemoved, ChildWatchRemoved, PersistentWatchRemoved).
   */
  removeAll(path: string, type: WatcherType): { listener: WatchListener; event: WatchedEvent }[] {
    const kinds: WatchKind[] = [];
    if (type === 'data' || type === 'any') kinds.push('data', 'exist');
    if (type === 'children' || type === 'any') kinds.push('child');
    if (type === 'persistent' || type === 'any') kinds.push('persistent');
    if (type === 'persistentRecursive' || type === 'any') kinds.push('persistentRecursive');
    return kinds.flatMap((kind) => this.drop(path, kind));
  }

  /**
   * Removes every listener of one kind on `path` (removeWatches, or a watch the server would not
   * take back), with the event each must be told.
   */
  drop(path: string, kind: WatchKind): { listener: WatchListener; event: WatchedEvent }[] {
    const set = this.byKind[kind].get(path);
    if (!set) return [];
    this.byKind[kind].delete(path);
    const type = REMOVED_EVENT[kind];
    return [...set].map((listener) => ({ listener, event: { type, path, zxid: 0n } }));
  }

  /** The listeners an event reaches, one-shots removed as they are taken (materialize). */
  materialize(event: WatchedEvent): Set<WatchListener> {
    const out = new Set<WatchListener>();
    const take = (kind: OneShotKind) => {
      const set = this.byKind[kind].get(event.path);
      if (!set) return;
      this.byKind[kind].delete(event.path);
      for (const l of set) out.add(l);
    };
    switch (event.type) {
      case 'NodeCreated':
      case 'NodeDataChanged':
        take('data');
        take('exist');
        break;
      case 'NodeDeleted':
        take('data');
        take('exist');
        take('child');
        break;
      case 'NodeChildrenChanged':
        take('child');
        break;
      default:
        return out;
    }
    for (const l of this.byKind.persistent.get(event.path) ?? []) out.add(l);
    if (event.type !== 'NodeChildrenChanged') {
      const recursive = this.byKind.persistentRecursive;
      for (const l of recursive.get(event.path) ?? []) out.add(l);
      for (const p of ancestors(event.path)) for (const l of recursive.get(p) ?? []) out.add(l);
    }
    return out;
  }

  /** The paths with at least one listener, per kind: what setWatches must re-register. */
  paths(): Record<WatchKind, string[]> {
    return {
      data: [...this.byKind.data.keys()],
      exist: [...this.byKind.exist.keys()],
      child: [...this.byKind.child.keys()],
      persistent: [...this.byKind.persistent.keys()],
      persistentRecursive: [...this.byKind.persistentRecursive.keys()],
    };
  }

  get size(): number {
    let n = 0;
    for (const map of Object.values(this.byKind)) n += map.size;
    return n;
  }

  /** Drops everything (session expired or client closed). */
  clear(): void {
    for (const map of Object.values(this.byKind)) map.clear();
  }
}
