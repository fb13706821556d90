import {
  type ConnectRequest,
  Limits,
  MarshallingError,
  type MultiOp,
  type Request,
  type RequestFrame,
  Xid,
} from '@conclave/core';

/**
 * Schema checks for decoded frames. The codec guarantees a bounded, well-formed CBOR value; this
 * file guarantees it has the shape of a request, field by field, so nothing downstream ever sees a
 * string where it expects a number. A failure throws MarshallingError whose message names the field,
 * and the connection is closed with that message as its reason.
 */

type Obj = Record<string, unknown>;

function fail(what: string): never {
  throw new MarshallingError(what);
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function int(o: Obj, key: string, where: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(`${where}: field '${key}' must be an integer`);
  return v;
}

function int32(o: Obj, key: string, where: string): number {
  const v = int(o, key, where);
  if (v < -0x80000000 || v > 0x7fffffff) fail(`${where}: field '${key}' must be a 32-bit integer`);
  return v;
}

function str(o: Obj, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== 'string') fail(`${where}: field '${key}' must be a string`);
  return v;
}

function bool(o: Obj, key: string, where: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') fail(`${where}: field '${key}' must be a boolean`);
  return v;
}

function bytes(o: Obj, key: string, where: string): Uint8Array {
  const v = o[key];
  if (!(v instanceof Uint8Array)) fail(`${where}: field '${key}' must be a byte string`);
  return v;
}

/** cbor-x decodes small integers as numbers even when they were encoded from bigints. */
function big(o: Obj, key: string, where: string): bigint {
  const v = o[key];
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  fail(`${where}: field '${key}' must be an integer (bigint)`);
}

function strings(o: Obj, key: string, where: string, max: number): string[] {
  const v = o[key];
  if (!Array.isArray(v)) fail(`${where}: field '${key}' must be an array of strings`);
  if (v.length > max) fail(`${where}: field '${key}' has more than ${max} entries`);
  for (const s of v) if (typeof s !== 'string') fail(`${where}: field '${key}' must be an array of strings`);
  return v as string[];
}

function acl(o: Obj, key: string, where: string): { perms: number; id: { scheme: string; id: string } }[] {
  const v = o[key];
  if (!Array.isArray(v)) fail(`${where}: field '${key}' must be an array of ACL entries`);
  if (v.length > Limits.maxAclEntries)
    fail(`${where}: field '${key}' has more than ${Limits.maxAclEntries} entries`);
  return v.map((e, i) => {
    const at = `${where}.${key}[${i}]`;
    if (!isObj(e)) fail(`${at} must be a map { perms, id }`);
    const perms = int(e, 'perms', at);
    const id = e.id;
    if (!isObj(id)) fail(`${at}: field 'id' must be a map { scheme, id }`);
    return { perms, id: { scheme: str(id, 'scheme', `${at}.id`), id: str(id, 'id', `${at}.id`) } };
  });
}

const WATCHER_TYPES = new Set(['children', 'data', 'any', 'persistent', 'persistentRecursive']);

function multiOp(v: unknown, i: number): MultiOp {
  const at = `multi.ops[${i}]`;
  if (!isObj(v)) fail(`${at} must be a map`);
  const op = v.op;
  if (op !== 'create' && op !== 'delete' && op !== 'setData' && op !== 'check') {
    fail(`${at}: op must be one of create, delete, setData, check`);
  }
  return requestBody(v, op) as MultiOp;
}

function requestBody(o: Obj, op: string): Request {
  const w = op;
  switch (op) {
    case 'create': {
      const r: Request = {
        op,
        path: str(o, 'path', w),
        data: bytes(o, 'data', w),
        acl: acl(o, 'acl', w),
        mode: int(o, 'mode', w) as never,
      };
      if (o.ttlMs !== undefined && o.ttlMs !== null) r.ttlMs = int(o, 'ttlMs', w);
      return r;
    }
    case 'delete':
      return { op, path: str(o, 'path', w), version: int32(o, 'version', w) };
    case 'exists':
    case 'getData':
    case 'getChildren':
      return { op, path: str(o, 'path', w), watch: bool(o, 'watch', w) };
    case 'setData':
      return { op, path: str(o, 'path', w), data: bytes(o, 'data', w), version: int32(o, 'version', w) };
    case 'getACL':
    case 'sync':
    case 'getAllChildrenNumber':
      return { op, path: str(o, 'path', w) };
    case 'setACL':
      return { op, path: str(o, 'path', w), acl: acl(o, 'acl', w), version: int32(o, 'version', w) };
    case 'check':
      return { op, path: str(o, 'path', w), version: int32(o, 'version', w) };
    case 'multi': {
      const ops = o.ops;
      if (!Array.isArray(ops)) fail(`multi: field 'ops' must be an array`);
      if (ops.length > Limits.maxMultiOps) fail(`multi: more than ${Limits.maxMultiOps} ops`);
      return { op, ops: ops.map(multiOp) };
    }
    case 'ping':
    case 'closeSession':
    case 'whoAmI':
      return { op };
    case 'auth':
      return { op, scheme: str(o, 'scheme', w), auth: bytes(o, 'auth', w) };
    case 'setWatches': {
      const max = Limits.maxWatchesPerSession;
      return {
        op,
        relativeZxid: big(o, 'relativeZxid', w),
        dataWatches: strings(o, 'dataWatches', w, max),
        existWatches: strings(o, 'existWatches', w, max),
        childWatches: strings(o, 'childWatches', w, max),
        persistentWatches: strings(o, 'persistentWatches', w, max),
        persistentRecursiveWatches: strings(o, 'persistentRecursiveWatches', w, max),
      };
    }
    case 'addWatch': {
      const mode = str(o, 'mode', w);
      if (mode !== 'PERSISTENT' && mode !== 'PERSISTENT_RECURSIVE') {
        fail(`addWatch: field 'mode' must be 'PERSISTENT' or 'PERSISTENT_RECURSIVE'`);
      }
      return { op, path: str(o, 'path', w), mode };
    }
    case 'removeWatches': {
      const type = str(o, 'type', w);
      if (!WATCHER_TYPES.has(type))
        fail(`removeWatches: field 'type' must be one of ${[...WATCHER_TYPES].join(', ')}`);
      return { op, path: str(o, 'path', w), type: type as never };
    }
    case 'getEphemerals':
      return { op, prefix: str(o, 'prefix', w) };
    default:
      fail(`unknown op '${String(op).slice(0, 40)}'`);
  }
}

/**
 * Checks a decoded request frame and returns a clean copy holding only the known fields.
 * Special xids must carry their op (ping = -2, auth = -4, setWatches = -8); other negative xids
 * are reserved.
 */
export function validateRequestFrame(value: unknown): RequestFrame {
  if (!isObj(value)) fail('request frame must be a CBOR map');
  const xid = int32(value, 'xid', 'request');
  const op = value.op;
  if (typeof op !== 'string') fail(`request: field 'op' must be a string`);
  const body = requestBody(value, op);
  if (xid < 0) {
    const expected =
      xid === Xid.PING
        ? 'ping'
        : xid === Xid.AUTH
          ? 'auth'
          : xid === Xid.SET_WATCHES
            ? 'setWatches'
            : undefined;
    if (expected === undefined) fail(`request: xid ${xid} is reserved`);
    if (expected !== op) fail(`request: xid ${xid} is reserved for '${expected}', got '${op}'`);
  } else if (op === 'ping' || op === 'auth' || op === 'setWatches') {
    // ZooKeeper accepts these only under their special xids; so do we, to keep one code path.
    const special = op === 'ping' ? Xid.PING : op === 'auth' ? Xid.AUTH : Xid.SET_WATCHES;
    fail(`request: op '${op}' must use xid ${special}`);
  }
  return { xid, ...body } as RequestFrame;
}

/** Checks the first frame of a connection. */
export function validateConnectRequest(value: unknown): ConnectRequest {
  const w = 'connect';
  if (!isObj(value)) fail('connect frame must be a CBOR map');
  const timeoutMs = int(value, 'timeoutMs', w);
  if (timeoutMs < 0) fail(`connect: field 'timeoutMs' must not be negative`);
  return {
    protocolVersion: int(value, 'protocolVersion', w),
    lastZxidSeen: big(value, 'lastZxidSeen', w),
    timeoutMs,
    sessionId: big(value, 'sessionId', w),
    password: bytes(value, 'password', w),
    readOnly: bool(value, 'readOnly', w),
  };
}
