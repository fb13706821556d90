import {
  ConclaveError,
  ErrorCode,
  type Id,
  Limits,
  Perms,
  pathProblem,
  type RequestFrame,
  type WatchedEvent,
} from '@conclave/core';
import { checkPerms, type Database, type WatchManager } from '../datatree/index.js';

/** Everything a read needs about its caller. */
export interface ReadContext {
  db: Database;
  watches: WatchManager;
  sessionId: bigint;
  authIds: Id[];
  clientIp: string;
  /** Sends a notification on the caller's connection now (setWatches' missed events). */
  sendNotification: (zxid: bigint, type: WatchedEvent['type'], path: string) => void;
}

export interface ReadOutcome {
  err: number;
  result?: object;
}

const OK: ReadOutcome = { err: 0 };

function fail(err: number): ReadOutcome {
  return { err };
}

/**
 * Answers a request that the local member serves without ordering it: reads, and the watch and
 * session queries. Called when the request reaches the head of its connection's queue, so the
 * session's earlier writes are applied (FIFO client order). ACLs are checked as ZooKeeper does:
 * READ for data, children and ACL (ADMIN also allows getACL), none for exists.
 */
export function executeRead(frame: RequestFrame, ctx: ReadContext): ReadOutcome {
  try {
    return read(frame, ctx);
  } catch (err) {
    if (err instanceof ConclaveError) return fail(err.errno);
    throw err;
  }
}

/** Core's path rules plus Limits.maxPathLength (as the Preparer checks writes). */
function badPath(path: string): boolean {
  return path.length > Limits.maxPathLength || pathProblem(path) !== undefined;
}

function allowed(ctx: ReadContext, path: string, perm: number): boolean {
  const acl = ctx.db.tree.aclOf(path);
  return acl === undefined || checkPerms(acl, perm, ctx.authIds, ctx.clientIp);
}

function read(frame: RequestFrame, ctx: ReadContext): ReadOutcome {
  const { db, watches, sessionId } = ctx;
  const tree = db.tree;
  if ('path' in frame && badPath(frame.path)) {
    return fail(ErrorCode.BADARGUMENTS);
  }
  switch (frame.op) {
    case 'exists': {
      const stat = tree.exists(frame.path);
      if (frame.watch) watches.add(sessionId, frame.path, stat === null ? 'exist' : 'data');
      return stat === null ? fail(ErrorCode.NONODE) : { err: 0, result: { stat } };
    }
    case 'getData': {
      if (tree.getNode(frame.path) === undefined) return fail(ErrorCode.NONODE);
      if (!allowed(ctx, frame.path, Perms.READ)) return fail(ErrorCode.NOAUTH);
      const result = tree.getData(frame.path);
      if (frame.watch) watches.add(sessionId, frame.path, 'data');
      return { err: 0, result };
    }
    case 'getChildren': {
      if (tree.getNode(frame.path) === undefined) return fail(ErrorCode.NONODE);
      if (!allowed(ctx, frame.path, Perms.READ)) return fail(ErrorCode.NOAUTH);
      const result = tree.getChildren(frame.path);
      if (frame.watch) watches.add(sessionId, frame.path, 'child');
      return { err: 0, result };
    }
    case 'getACL': {
      if (tree.getNode(frame.path) === undefined) return fail(ErrorCode.NONODE);
      if (!allowed(ctx, frame.path, Perms.READ) && !allowed(ctx, frame.path, Perms.ADMIN)) {
        return fail(ErrorCode.NOAUTH);
      }
      return { err: 0, result: tree.getACL(frame.path) };
    }
    case 'getAllChildrenNumber': {
      if (tree.getNode(frame.path) === undefined) return fail(ErrorCode.NONODE);
      if (!allowed(ctx, frame.path, Perms.READ)) return fail(ErrorCode.NOAUTH);
      return { err: 0, result: { count: tree.allChildrenNumber(frame.path) } };
    }
    case 'getEphemerals': {
      const paths = db.ephemeralsOf(sessionId).filter((p: string) => p.startsWith(frame.prefix));
      return { err: 0, result: { paths } };
    }
    case 'whoAmI':
      return { err: 0, result: { ids: ctx.authIds.map((a) => ({ scheme: a.scheme, id: a.id })) } };
    case 'addWatch':
      // As ZooKeeper since CVE-2024-23944: no watch on a node the session may not read.
      if (!allowed(ctx, frame.path, Perms.READ)) return fail(ErrorCode.NOAUTH);
      watches.add(sessionId, frame.path, frame.mode === 'PERSISTENT' ? 'persistent' : 'persistentRecursive');
      return OK;
    case 'removeWatches':
      return watches.remove(sessionId, frame.path, frame.type) ? OK : fail(ErrorCode.NOWATCHER);
    case 'setWatches': {
      // A watch on a path that cannot exist would never fire: refuse it like any other bad path.
      for (const list of [
        frame.dataWatches,
        frame.existWatches,
        frame.childWatches,
        frame.persistentWatches,
        frame.persistentRecursiveWatches,
      ]) {
        for (const path of list) if (badPath(path)) return fail(ErrorCode.BADARGUMENTS);
      }
      const mayRead = (path: string) => allowed(ctx, path, Perms.READ);
      for (const e of watches.setWatches(sessionId, frame, db, mayRead)) {
        ctx.sendNotification(e.zxid, e.type, e.path);
      }
      return OK;
    }
    default:
      return fail(ErrorCode.UNIMPLEMENTED);
  }
}
