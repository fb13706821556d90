import {
  type ACL,
  Limits,
  QuotaExceededError,
  type SetWatchesRequest,
  type WatchedEvent,
  type WatcherType,
} from '@conclave/core';
import type { Database, TreeEvent } from './database.js';
import { PathTrie } from './path-trie.js';

/** What a watch was registered by: getData → data, exists → exist, getChildren → child, addWatch → persistent*. */
export type WatchKind = 'data' | 'exist' | 'child' | 'persistent' | 'persistentRecursive';

const DATA = 1;
const EXIST = 2;
const CHILD = 4;
const PERSISTENT = 8;
const RECURSIVE = 16;
const ONE_SHOT = DATA | EXIST | CHILD;
const BIT: Record<WatchKind, number> = {
  data: DATA,
  exist: EXIST,
  child: CHILD,
  persistent: PERSISTENT,
  persistentRecursive: RECURSIVE,
};
const REMOVE_BITS: Record<WatcherType, number> = {
  data: DATA | EXIST,
  children: CHILD,
  any: DATA | EXIST | CHILD | PERSISTENT | RECURSIVE,
  persistent: PERSISTENT,
  persistentRecursive: RECURSIVE,
};

// Which registrations an event on the watched path itself fires, and which one-shots it consumes.
const FIRE_ON_PATH: Record<TreeEvent['type'], number> = {
  NodeCreated: DATA | EXIST | PERSISTENT | RECURSIVE,
  NodeDataChanged: DATA | EXIST | PERSISTENT | RECURSIVE,
  NodeDeleted: DATA | EXIST | CHILD | PERSISTENT | RECURSIVE,
  // As ZooKeeper: persistent-recursive watches never see NodeChildrenChanged.
  NodeChildrenChanged: CHILD | PERSISTENT,
};

function popcount(x: number): number {
  let n = 0;
  while (x !== 0) {
    x &= x - 1;
    n++;
  }
  return n;
}

export interface WatchManagerOptions {
  /** Watches one session may hold (Limits.maxWatchesPerSession). */
  maxWatchesPerSession?: number;
}

/**
 * The watches of the sessions connected to this member (not replicated: a session re-registers
 * with setWatches when it moves). ZooKeeper's rules:
 * - one-shot watches fire once and are gone: data (getData/exists on an existing node) and exist
 *   (exists on a missing node) fire on NodeCreated, NodeDataChanged and NodeDeleted of the path;
 *   child watches (getChildren) on NodeChildrenChanged and NodeDeleted of the path;
 * - persistent watches fire on every change at the path (data, create, delete, children) and stay;
 * - persistent-recursive watches fire on create, delete and data changes of the path and every
 *   descendant (never NodeChildrenChanged) and stay;
 * - one trigger delivers an event at most once to a session, however many of its watches match.
 */
export class WatchManager {
  private readonly byPath = new Map<string, Map<bigint, number>>();
  private readonly bySession = new Map<bigint, Map<string, number>>();
  private readonly perSession = new Map<bigint, number>();
  private recursiveCount = 0;
  /** Paths holding a persistent-recursive watch (one reference per session): ancestor lookups in O(path length). */
  private readonly recursivePaths = new PathTrie();
  private total = 0;
  private readonly maxPerSession: number;

  constructor(opts: WatchManagerOptions = {}) {
    this.maxPerSession = opts.maxWatchesPerSession ?? Limits.maxWatchesPerSession;
  }

  /** Registers a watch (idempotent). Throws QuotaExceededError past maxWatchesPerSession. */
  add(sessionId: bigint, path: string, kind: WatchKind): void {
    const bit = BIT[kind];
    if (bit === undefined) throw new Error(`invariant: unknown watch kind ${String(kind)}`);
    const paths = this.bySession.get(sessionId);
    const mask = paths?.get(path) ?? 0;
    if (mask & bit) return;
    const n = this.perSession.get(sessionId) ?? 0;
    if (n >= this.maxPerSession) {
      throw new QuotaExceededError(
        `session 0x${sessionId.toString(16)} already holds ${n} watches, the maximum (maxWatchesPerSession): remove watches it no longer needs`,
        path,
      );
    }
    this.setMask(sessionId, path, mask | bit);
  }

  /**
   * Fires the watches matching `events` (in order); one-shot watches that fire are removed.
   * Returns, per session, the events to deliver. With `mayRead`, an event reaches only the
   * sessions allowed to READ the node it is about (its ACL at the time of the change), as
   * ZooKeeper since CVE-2024-23944: a watch, recursive ones above all, must not reveal what a
   * read would refuse. A one-shot watch that matched is consumed either way.
   */
  trigger(
    events: readonly TreeEvent[],
    zxid: bigint,
    mayRead?: (sessionId: bigint, acl: readonly ACL[]) => boolean,
  ): Map<bigint, WatchedEvent[]> {
    const out = new Map<bigint, WatchedEvent[]>();
    if (this.total === 0) return out;
    for (const ev of events) {
      let delivered: Set<bigint> | undefined;
      const deliver = (sessionId: bigint): void => {
        if (delivered === undefined) delivered = new Set();
        else if (delivered.has(sessionId)) return;
        delivered.add(sessionId);
        if (mayRead !== undefined && !mayRead(sessionId, ev.acl)) return;
        const list = out.get(sessionId);
        const we: WatchedEvent = { type: ev.type, path: ev.path, zxid };
        if (list === undefined) out.set(sessionId, [we]);
        else list.push(we);
      };
      const fire = FIRE_ON_PATH[ev.type];
      const watchers = this.byPath.get(ev.path);
      if (watchers !== undefined) {
        // Live iteration is safe: setMask only rewrites or deletes the entry being visited.
        for (const [sessionId, mask] of watchers) {
          if ((mask & fire) === 0) continue;
          deliver(sessionId);
          const consumed = mask & fire & ONE_SHOT;
          if (consumed !== 0) this.setMask(sessionId, ev.path, mask & ~consumed);
        }
      }
      if (this.recursiveCount > 0 && ev.type !== 'NodeChildrenChanged') {
        this.recursivePaths.forEachAncestor(ev.path, (p) => {
          const w = this.byPath.get(p);
          if (w === undefined) throw new Error(`invariant: recursive watch path ${p} has no watchers`);
          for (const [sessionId, mask] of w) if (mask & RECURSIVE) deliver(sessionId);
        });
      }
    }
    return out;
  }

  /** removeWatches: false when the session had no such watch on the path (NOWATCHER). */
  remove(sessionId: bigint, path: string, type: WatcherType): boolean {
    const bits = REMOVE_BITS[type];
    if (bits === undefined) return false;
    const mask = this.bySession.get(sessionId)?.get(path) ?? 0;
    if ((mask & bits) === 0) return false;
    this.setMask(sessionId, path, mask & ~bits);
    return true;
  }

  /** Drops every watch of a session (closed, expired or moved away). */
  removeSession(sessionId: bigint): void {
    const paths = this.bySession.get(sessionId);
    if (paths === undefined) return;
    for (const path of [...paths.keys()]) this.setMask(sessionId, path, 0);
  }

  /**
   * Re-registers a reconnecting session's watches as ZooKeeper's DataTree.setWatches does: a
   * change the client missed since `relativeZxid` fires now (data watch: NodeDeleted or
   * NodeDataChanged; exist watch: NodeCreated; child watch: NodeDeleted or NodeChildrenChanged),
   * everything else is registered again. Persistent watches are simply re-added. A path for which
   * `mayRead` is false (an existing node the session may not READ) is skipped silently, as
   * ZooKeeper does since CVE-2024-23944.
   */
  setWatches(
    sessionId: bigint,
    req: SetWatchesRequest,
    db: Database,
    mayRead: (path: string) => boolean = () => true,
  ): WatchedEvent[] {
    const lists: Array<[readonly string[] | undefined, WatchKind]> = [
      [req.dataWatches, 'data'],
      [req.existWatches, 'exist'],
      [req.childWatches, 'child'],
      [req.persistentWatches, 'persistent'],
      [req.persistentRecursiveWatches, 'persistentRecursive'],
    ];
    // Only watches the session does not hold yet count against its quota: a member keeps a
    // reconnecting session's watches, and the client re-sends all of them.
    const mine = this.bySession.get(sessionId);
    const counted = new Set<string>();
    let requested = 0;
    for (const [paths, kind] of lists) {
      for (const path of Array.isArray(paths) ? paths : []) {
        if (((mine?.get(path) ?? 0) & BIT[kind]) !== 0) continue;
        const key = `${kind}\u0000${path}`;
        if (counted.has(key)) continue;
        counted.add(key);
        requested++;
      }
    }
    const held = this.perSession.get(sessionId) ?? 0;
    if (held + requested > this.maxPerSession) {
      throw new QuotaExceededError(
        `setWatches would give session 0x${sessionId.toString(16)} ${held + requested} watches, more than maxWatchesPerSession (${this.maxPerSession})`,
      );
    }
    const rel = req.relativeZxid;
    const zxid = db.lastZxid;
    const fired: WatchedEvent[] = [];
    for (const path of req.dataWatches ?? []) {
      if (!mayRead(path)) continue;
      const node = db.tree.getNode(path);
      if (node === undefined) fired.push({ type: 'NodeDeleted', path, zxid });
      else if (node.mzxid > rel) fired.push({ type: 'NodeDataChanged', path, zxid });
      else this.add(sessionId, path, 'data');
    }
    for (const path of req.existWatches ?? []) {
      if (!mayRead(path)) continue;
      if (db.tree.getNode(path) !== undefined) fired.push({ type: 'NodeCreated', path, zxid });
      else this.add(sessionId, path, 'exist');
    }
    for (const path of req.childWatches ?? []) {
      if (!mayRead(path)) continue;
      const node = db.tree.getNode(path);
      if (node === undefined) fired.push({ type: 'NodeDeleted', path, zxid });
      else if (node.pzxid > rel) fired.push({ type: 'NodeChildrenChanged', path, zxid });
      else this.add(sessionId, path, 'child');
    }
    for (const path of req.persistentWatches ?? [])
      if (mayRead(path)) this.add(sessionId, path, 'persistent');
    for (const path of req.persistentRecursiveWatches ?? [])
      if (mayRead(path)) this.add(sessionId, path, 'persistentRecursive');
    return fired;
  }

  /** Watches held (each kind on each path counts once), by one session or by all. */
  count(sessionId?: bigint): number {
    return sessionId === undefined ? this.total : (this.perSession.get(sessionId) ?? 0);
  }

  /** A session's watches, for admin output (`wchs`) and for tests. */
  watchesOf(sessionId: bigint): { path: string; kinds: WatchKind[] }[] {
    const out: { path: string; kinds: WatchKind[] }[] = [];
    for (const [path, mask] of this.bySession.get(sessionId) ?? []) {
      out.push({ path, kinds: (Object.keys(BIT) as WatchKind[]).filter((k) => mask & BIT[k]) });
    }
    return out;
  }

  /** Paths with at least one watch. */
  get watchedPathCount(): number {
    return this.byPath.size;
  }

  private setMask(sessionId: bigint, path: string, mask: number): void {
    let paths = this.bySession.get(sessionId);
    const old = paths?.get(path) ?? 0;
    if (old === mask) return;
    const delta = popcount(mask) - popcount(old);
    this.total += delta;
    const n = (this.perSession.get(sessionId) ?? 0) + delta;
    if (n === 0) this.perSession.delete(sessionId);
    else this.perSession.set(sessionId, n);
    if ((old & RECURSIVE) !== (mask & RECURSIVE)) {
      if (mask & RECURSIVE) {
        this.recursiveCount++;
        this.recursivePaths.add(path);
      } else {
        this.recursiveCount--;
        this.recursivePaths.remove(path);
      }
    }

    let sessions = this.byPath.get(path);
    if (mask === 0) {
      paths?.delete(path);
      if (paths !== undefined && paths.size === 0) this.bySession.delete(sessionId);
      sessions?.delete(sessionId);
      if (sessions !== undefined && sessions.size === 0) this.byPath.delete(path);
      return;
    }
    if (paths === undefined) {
      paths = new Map();
      this.bySession.set(sessionId, paths);
    }
    paths.set(path, mask);
    if (sessions === undefined) {
      sessions = new Map();
      this.byPath.set(path, sessions);
    }
    sessions.set(sessionId, mask);
  }
}
