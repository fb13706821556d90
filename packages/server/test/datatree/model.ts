/**
 * A small, obviously-correct reference model of ZooKeeper's write semantics: a map from path to
 * node, children found by scanning, every request processed directly (no prep/txn split, no
 * indexes, no digest). The property test checks Preparer + Database against it.
 */
import {
  type ACL,
  CONTAINER_EPHEMERAL_OWNER,
  createModeName,
  ErrorCode,
  type Id,
  isEphemeral,
  isSequential,
  isTtl,
  MAX_TTL_MS,
  type MultiOp,
  pathProblem,
  type Stat,
  sequenceSuffix,
  ttlEphemeralOwner,
} from '@conclave/core';
import type { WriteRequest } from '../../src/datatree/index.js';

export interface MNode {
  data: Uint8Array;
  acl: ACL[];
  stat: Omit<Stat, 'dataLength' | 'numChildren'>;
}

export interface MResult {
  err: number;
  path?: string;
  stat?: Stat;
  results?: MResult[];
}

class Fail extends Error {
  constructor(readonly err: number) {
    super(String(err));
  }
}

const parentOf = (p: string): string => (p.lastIndexOf('/') <= 0 ? '/' : p.slice(0, p.lastIndexOf('/')));

export class Model {
  nodes = new Map<string, MNode>();
  sessions = new Set<bigint>();

  constructor(readonly maxDataBytes: number) {
    this.nodes.set('/', {
      data: new Uint8Array(0),
      acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }],
      stat: {
        czxid: 0n,
        mzxid: 0n,
        pzxid: 0n,
        ctime: 0,
        mtime: 0,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeralOwner: 0n,
      },
    });
  }

  children(path: string): string[] {
    return [...this.nodes.keys()].filter((p) => p !== '/' && parentOf(p) === path);
  }

  stat(path: string): Stat {
    const n = this.nodes.get(path)!;
    return { ...n.stat, dataLength: n.data.length, numChildren: this.children(path).length };
  }

  clone(): Map<string, MNode> {
    return new Map([...this.nodes].map(([p, n]) => [p, { data: n.data, acl: n.acl, stat: { ...n.stat } }]));
  }

  private allowed(acl: ACL[], perm: number, ids: Id[]): boolean {
    return acl.some(
      (a) =>
        (a.perms & perm) === perm &&
        ((a.id.scheme === 'world' && a.id.id === 'anyone') ||
          ids.some((i) => i.scheme === a.id.scheme && i.id === a.id.id)),
    );
  }

  private fixAcl(acl: ACL[], ids: Id[]): ACL[] {
    if (acl.length === 0) throw new Fail(ErrorCode.INVALIDACL);
    const out: ACL[] = [];
    for (const a of acl) {
      if (a.id.scheme === 'auth') {
        const digests = ids.filter((i) => i.scheme === 'digest');
        if (digests.length === 0) throw new Fail(ErrorCode.INVALIDACL);
        for (const d of digests) out.push({ perms: a.perms, id: d });
      } else if (a.id.scheme === 'world') {
        if (a.id.id !== 'anyone') throw new Fail(ErrorCode.INVALIDACL);
        out.push(a);
      } else if (a.id.scheme === 'digest') {
        out.push(a);
      } else throw new Fail(ErrorCode.INVALIDACL);
    }
    return out.filter(
      (a, i) =>
        out.findIndex((b) => b.perms === a.perms && b.id.scheme === a.id.scheme && b.id.id === a.id.id) === i,
    );
  }

  private version(cur: number, expected: number): void {
    if (expected !== -1 && expected !== cur) throw new Fail(ErrorCode.BADVERSION);
  }

  private op(op: MultiOp | WriteRequest, sid: bigint, ids: Id[], zxid: bigint, time: number): MResult {
    switch (op.op) {
      case 'create': {
        if (createModeName(op.mode) === undefined) throw new Fail(ErrorCode.BADARGUMENTS);
        if (isTtl(op.mode) ? !(op.ttlMs! > 0 && op.ttlMs! <= MAX_TTL_MS) : op.ttlMs !== undefined) {
          throw new Fail(ErrorCode.BADARGUMENTS);
        }
        const seq = isSequential(op.mode);
        const checked = seq && op.path.endsWith('/') && op.path.length > 1 ? `${op.path}0` : op.path;
        if (pathProblem(checked) !== undefined) throw new Fail(ErrorCode.BADARGUMENTS);
        if (op.data.length > this.maxDataBytes) throw new Fail(ErrorCode.BADARGUMENTS);
        const acl = this.fixAcl(op.acl, ids);
        const parentPath = op.path.lastIndexOf('/') === 0 ? '/' : op.path.slice(0, op.path.lastIndexOf('/'));
        const parent = this.nodes.get(parentPath);
        if (parent === undefined) throw new Fail(ErrorCode.NONODE);
        if (!this.allowed(parent.acl, 4, ids)) throw new Fail(ErrorCode.NOAUTH);
        const path = seq ? op.path + sequenceSuffix(parent.stat.cversion) : op.path;
        if (this.nodes.has(path)) throw new Fail(ErrorCode.NODEEXISTS);
        const po = parent.stat.ephemeralOwner;
        if (po !== 0n && po !== CONTAINER_EPHEMERAL_OWNER && BigInt.asUintN(64, po) >> 56n !== 0xffn) {
          throw new Fail(ErrorCode.NOCHILDRENFOREPHEMERALS);
        }
        parent.stat.cversion++;
        parent.stat.pzxid = zxid;
        const owner =
          op.mode === 4
            ? CONTAINER_EPHEMERAL_OWNER
            : isTtl(op.mode)
              ? ttlEphemeralOwner(op.ttlMs!)
              : isEphemeral(op.mode)
                ? sid
                : 0n;
        this.nodes.set(path, {
          data: op.data,
          acl,
          stat: {
            czxid: zxid,
            mzxid: zxid,
            pzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeralOwner: owner,
          },
        });
        return { err: 0, path, stat: this.stat(path) };
      }
      case 'delete': {
        if (pathProblem(op.path) !== undefined || op.path === '/') throw new Fail(ErrorCode.BADARGUMENTS);
        const parent = this.nodes.get(parentOf(op.path));
        if (parent === undefined) throw new Fail(ErrorCode.NONODE);
        if (!this.allowed(parent.acl, 8, ids)) throw new Fail(ErrorCode.NOAUTH);
        const node = this.nodes.get(op.path);
        if (node === undefined) throw new Fail(ErrorCode.NONODE);
        this.version(node.stat.version, op.version);
        if (this.children(op.path).length > 0) throw new Fail(ErrorCode.NOTEMPTY);
        this.nodes.delete(op.path);
        parent.stat.pzxid = zxid;
        return { err: 0 };
      }
      case 'setData': {
        if (pathProblem(op.path) !== undefined) throw new Fail(ErrorCode.BADARGUMENTS);
        if (op.data.length > this.maxDataBytes) throw new Fail(ErrorCode.BADARGUMENTS);
        const node = this.nodes.get(op.path);
        if (node === undefined) throw new Fail(ErrorCode.NONODE);
        if (!this.allowed(node.acl, 2, ids)) throw new Fail(ErrorCode.NOAUTH);
        this.version(node.stat.version, op.version);
        node.data = op.data;
        node.stat.version++;
        node.stat.mzxid = zxid;
        node.stat.mtime = time;
        return { err: 0, stat: this.stat(op.path) };
      }
      case 'setACL': {
        if (pathProblem(op.path) !== undefined) throw new Fail(ErrorCode.BADARGUMENTS);
        const acl = this.fixAcl(op.acl, ids);
        const node = this.nodes.get(op.path);
        if (node === undefined) throw new Fail(ErrorCode.NONODE);
        if (!this.allowed(node.acl, 16, ids)) throw new Fail(ErrorCode.NOAUTH);
        this.version(node.stat.aversion, op.version);
        node.acl = acl;
        node.stat.aversion++;
        return { err: 0, stat: this.stat(op.path) };
      }
      case 'check': {
        if (pathProblem(op.path) !== undefined) throw new Fail(ErrorCode.BADARGUMENTS);
        const node = this.nodes.get(op.path);
        if (node === undefined) throw new Fail(ErrorCode.NONODE);
        if (!this.allowed(node.acl, 1, ids)) throw new Fail(ErrorCode.NOAUTH);
        this.version(node.stat.version, op.version);
        return { err: 0 };
      }
      default:
        throw new Error(`model: unsupported op ${op.op}`);
    }
  }

  /** Processes one request; returns what the client must see. */
  process(req: WriteRequest, sid: bigint, ids: Id[], zxid: bigint, time: number): MResult {
    if (req.op === 'closeSession') {
      const mine = [...this.nodes].filter(([, n]) => n.stat.ephemeralOwner === sid).map(([p]) => p);
      for (const p of mine) {
        this.nodes.delete(p);
        this.nodes.get(parentOf(p))!.stat.pzxid = zxid;
      }
      this.sessions.delete(sid);
      return { err: 0 };
    }
    if (req.op === 'multi') {
      const saved = this.clone();
      const results: MResult[] = [];
      for (let i = 0; i < req.ops.length; i++) {
        try {
          results.push(this.op(req.ops[i]!, sid, ids, zxid, time));
        } catch (e) {
          if (!(e instanceof Fail)) throw e;
          this.nodes = saved;
          const errs = req.ops.map((_, j) => ({
            err: j < i ? 0 : j === i ? e.err : ErrorCode.RUNTIMEINCONSISTENCY,
          }));
          return { err: e.err, results: errs };
        }
      }
      return { err: 0, results };
    }
    const saved = this.clone();
    try {
      return this.op(req, sid, ids, zxid, time);
    } catch (e) {
      if (!(e instanceof Fail)) throw e;
      this.nodes = saved;
      return { err: e.err };
    }
  }
}
