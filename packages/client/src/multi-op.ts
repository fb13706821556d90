import {
  type ACL,
  BadArgumentsError,
  type Chroot,
  type CreateModeFlag,
  type CreateModeName,
  Limits,
  type MultiOp,
  OPEN_ACL_UNSAFE,
  type Stat,
  validatePath,
} from '@conclave/core';
import {
  checkAcl,
  checkCreatePath,
  checkTtl,
  checkVersion,
  type Data,
  resolveMode,
  toBytes,
} from './arguments.js';

/**
 * The ops of a `multi` as callers write them (client paths, string or byte data, mode names), and
 * their conversion to wire ops (server paths, bytes, flags), checked one by one.
 */
export type Op =
  | {
      op: 'create';
      path: string;
      data?: Data;
      mode?: CreateModeName | CreateModeFlag;
      acl?: readonly ACL[];
      ttlMs?: number;
    }
  | { op: 'delete'; path: string; version?: number }
  | { op: 'setData'; path: string; data: Data; version?: number }
  | { op: 'check'; path: string; version: number };

/** One op's outcome, paths in the client's namespace. */
export type OpResult =
  | { op: 'create'; path: string; stat: Stat }
  | { op: 'delete' }
  | { op: 'setData'; stat: Stat }
  | { op: 'check' }
  | { op: 'error'; err: number };

export function toMultiOps(ops: readonly Op[], chroot: Chroot, maxDataBytes: number): MultiOp[] {
  if (!Array.isArray(ops)) throw new BadArgumentsError('multi takes an array of ops');
  if (ops.length > Limits.maxMultiOps) {
    throw new BadArgumentsError(`a multi may have at most ${Limits.maxMultiOps} ops, got ${ops.length}`);
  }
  return ops.map((op): MultiOp => {
    switch (op?.op) {
      case 'create': {
        const mode = resolveMode(op.mode, op.path);
        checkCreatePath(op.path, mode);
        const ttlMs = checkTtl(mode, op.ttlMs, op.path);
        return {
          op: 'create',
          path: chroot.toServer(op.path),
          data: toBytes(op.data, maxDataBytes, op.path),
          acl: checkAcl(op.acl ?? OPEN_ACL_UNSAFE, op.path),
          mode,
          ...(ttlMs === undefined ? {} : { ttlMs }),
        };
      }
      case 'delete':
        validatePath(op.path);
        return { op: 'delete', path: chroot.toServer(op.path), version: checkVersion(op.version, op.path) };
      case 'setData':
        validatePath(op.path);
        return {
          op: 'setData',
          path: chroot.toServer(op.path),
          data: toBytes(op.data, maxDataBytes, op.path),
          version: checkVersion(op.version, op.path),
        };
      case 'check':
        validatePath(op.path);
        if (op.version === undefined) throw new BadArgumentsError('a check op needs a version', op.path);
        return { op: 'check', path: chroot.toServer(op.path), version: checkVersion(op.version, op.path) };
      default:
        throw new BadArgumentsError(
          `unknown multi op ${JSON.stringify((op as { op?: unknown })?.op)}: use create, delete, setData or check`,
        );
    }
  });
}
