import {
  type ACL,
  BadArgumentsError,
  BadVersionError,
  type CheckRequest,
  type CloseSessionRequest,
  ConclaveError,
  CONTAINER_EPHEMERAL_OWNER,
  type CreateRequest,
  createModeName,
  type DeleteRequest,
  ErrorCode,
  ephemeralKind,
  type Id,
  isContainer,
  isEphemeral,
  isSequential,
  isTtl,
  Limits,
  MAX_TTL_MS,
  type MultiOp,
  type MultiRequest,
  NoAuthError,
  NoChildrenForEphemeralsError,
  NodeExistsError,
  NoNodeError,
  NotEmptyError,
  Perms,
  type SetACLRequest,
  type SetDataRequest,
  SessionExpiredError,
  sequenceSuffix,
  ttlEphemeralOwner,
  type Txn,
  validatePath,
  validateSequentialPath,
} from '@conclave/core';
import { checkPerms, isSuper } from './acl-check.js';
import { fixupAcl } from './acl-validate.js';
import type { Database } from './database.js';
import { type ChangeRecord, OutstandingChanges } from './outstanding-changes.js';
import { nextVersion, parentOf } from './txn-check.js';

/** Who is asking, for ACL checks and ephemeral ownership. */
export interface PrepContext {
  sessionId: bigint;
  /** The session's authenticated ids (see authenticate()); the `ip` id may come from clientIp. */
  authIds: Id[];
  /** Leader's clock (ms); should equal the TxnEntry.time the txn is proposed with. */
  nowMs: number;
  /** The client's address, for `ip` ACLs. */
  clientIp?: string;
}

/** A prepped txn; settle(token) once it is applied. `error` explains an error txn (for logs). */
export interface PrepResult {
  txn: Txn;
  token: number;
  error?: ConclaveError;
}

/** Requests that become txns. */
export type WriteRequest =
  | CreateRequest
  | DeleteRequest
  | SetDataRequest
  | SetACLRequest
  | CheckRequest
  | MultiRequest
  | CloseSessionRequest;

export interface PreparerOptions {
  /** Largest data accepted (default: the database's maxDataBytes). */
  maxDataBytes?: number;
  /** ZooKeeper's superDigest, e.g. 'super:D/InIHSb7yEEbrWz8b9l71RjZJU=' (see digestId()). */
  superDigest?: string;
  /**
   * TEST ONLY — never set in a server. Skips the check that a request's session is open (known to
   * the database or opened by a prepped createSession), so requests of dead sessions are prepped:
   * the simulator's `skipSessionCheck` fault uses it to prove its checks catch the orphan
   * ephemerals this causes. Requests of a session whose close is prepped are still refused.
   */
  unsafeSkipSessionCheck?: boolean;
}

/**
 * The leader's prep step (ZooKeeper's PrepRequestProcessor): validates a write request against the
 * database PLUS the outstanding changes of txns prepped but not applied yet, and turns it into a
 * deterministic {@link Txn} — the sequential name chosen, the new versions computed, `auth` ACLs
 * expanded — or into an error txn. Every member then applies the same txn with Database.apply.
 *
 * Pipelining: prep(create /a) then prep(create /a/b) both succeed before either applies, and a
 * second prep(create /a) gets NODEEXISTS. The caller must apply txns in prep order and call
 * settle(token) after each (or reset() when leadership is lost).
 *
 * Checks run in ZooKeeper's order, so the same bad request gets the same error code. First, as
 * ZooKeeper's sessionTracker.checkSession: a request on behalf of a session that is not open at
 * prep time (unknown, expired, closed, or with its close prepped) is refused with SESSIONEXPIRED.
 * Without this an ephemeral create racing its session's close would be born to a dead session and
 * never deleted. Session id 0 means "no session" (the server's own work, such as reap()); it may
 * not own ephemerals.
 */
export class Preparer {
  private readonly changes: OutstandingChanges;
  private readonly maxDataBytes: number;
  private readonly superDigest: string | undefined;
  private tokenCounter = 0;
  private readonly skipSessionCheck: boolean;
  // Sessions whose closeSession was prepped: their later requests get SESSIONEXPIRED.
  private readonly closing = new Map<bigint, number>();
  // Sessions whose createSession was prepped but not settled: open although not in db.sessions yet.
  private readonly opening = new Map<bigint, number>();

  constructor(
    private readonly db: Database,
    opts: PreparerOptions = {},
  ) {
    this.changes = new OutstandingChanges(db);
    this.maxDataBytes = opts.maxDataBytes ?? db.maxDataBytes;
    this.superDigest = opts.superDigest;
    this.skipSessionCheck = opts.unsafeSkipSessionCheck ?? false;
  }

  /** The token given to the most recent prep (createSession/closeSession included). */
  get lastToken(): number {
    return this.tokenCounter;
  }

  /** Paths with an outstanding change. */
  get outstandingCount(): number {
    return this.changes.size;
  }

  /** Turns a write request into a txn (an error txn when it fails validation). */
  prep(request: WriteRequest, ctx: PrepContext): PrepResult {
    const token = ++this.tokenCounter;
    try {
      if (request === null || typeof request !== 'object')
        throw new BadArgumentsError('a request must be an object');
      // As ZooKeeper, a close is not checked: it only removes, and expiry closes sessions too.
      if (request.op === 'closeSession') {
        const txn = this.closeSessionTxn(ctx.sessionId, token);
        return { txn, token };
      }
      this.checkSession(ctx.sessionId);
      if (request.op === 'multi') return { txn: this.prepMulti(request, ctx, token), token };
      const txn = this.prepOne(request as MultiOp | SetACLRequest, ctx);
      this.changes.commit(token);
      return { txn, token };
    } catch (err) {
      this.changes.discard();
      if (!(err instanceof ConclaveError)) throw err;
      return { txn: { type: 'error', err: err.errno }, token, error: err };
    }
  }

  /**
   * The txn that opens a session (the session id travels in the TxnEntry header). Pass `sessionId`
   * so the session's requests are accepted before this txn is applied (until its token settles);
   * without it they get SESSIONEXPIRED until the session is in the database.
   */
  createSession(timeoutMs: number, password: Uint8Array, sessionId?: bigint): Txn {
    const token = ++this.tokenCounter;
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
      throw new BadArgumentsError(`session timeout ${timeoutMs} ms must be a positive integer`);
    }
    if (sessionId !== undefined) this.opening.set(sessionId, token);
    return { type: 'createSession', timeoutMs, password: new Uint8Array(password) };
  }

  /**
   * The txn that closes a session (expiry or an explicit close): it lists the session's
   * ephemerals, including ones created by outstanding txns. Its token is `lastToken` afterwards.
   */
  closeSession(sessionId: bigint): Txn {
    return this.closeSessionTxn(sessionId, ++this.tokenCounter);
  }

  /** Every txn prepped with a token ≤ `token` has been applied (or abandoned). */
  settle(token: number): void {
    this.changes.settle(token);
    for (const [sessionId, t] of this.closing) if (t <= token) this.closing.delete(sessionId);
    // Applied (now in db.sessions) or abandoned (never open): either way the database decides.
    for (const [sessionId, t] of this.opening) if (t <= token) this.opening.delete(sessionId);
  }

  /** Drops all outstanding changes (leadership change). */
  reset(): void {
    this.changes.reset();
    this.closing.clear();
    this.opening.clear();
  }

  /**
   * Read access for getData/getChildren (ZooKeeper checks READ; exists checks nothing). Throws
   * NoNodeError or NoAuthError; reads use the applied state only.
   */
  checkRead(path: string, authIds: Id[], clientIp?: string): void {
    const node = this.db.tree.getNode(path);
    if (node === undefined) throw new NoNodeError(undefined, path);
    if (!isSuper(authIds, this.superDigest) && !checkPerms(node.acl.acl, Perms.READ, authIds, clientIp)) {
      throw new NoAuthError(undefined, path);
    }
  }

  /**
   * The server's own delete of an empty container or an expired TTL node (ZooKeeper's
   * deleteContainer), re-checked against the outstanding changes; undefined when the node is no
   * longer eligible (gone, has children, modified since, or not a container/TTL node).
   */
  reap(path: string, nowMs: number): PrepResult | undefined {
    const rec = this.changes.get(path);
    if (rec === undefined || rec.numChildren > 0 || path === '/') return undefined;
    const kind = ephemeralKind(rec.ephemeralOwner);
    if (kind.kind === 'container') {
      if (rec.cversion <= 0) return undefined;
    } else if (kind.kind === 'ttl') {
      if (!(nowMs - rec.mtime > kind.ttlMs)) return undefined;
    } else {
      return undefined;
    }
    const token = ++this.tokenCounter;
    this.stageDelete(path, rec);
    this.changes.commit(token);
    return { txn: { type: 'delete', path }, token };
  }

  // ---- prep of each request type --------------------------------------------------------------

  private prepMulti(request: MultiRequest, ctx: PrepContext, token: number): Txn {
    if (!Array.isArray(request.ops)) throw new BadArgumentsError('multi needs an ops array');
    if (request.ops.length > Limits.maxMultiOps) {
      throw new BadArgumentsError(
        `a multi may hold at most ${Limits.maxMultiOps} ops, not ${request.ops.length}`,
      );
    }
    const txns: Txn[] = [];
    let failedAt = -1;
    let failErr = 0;
    for (let i = 0; i < request.ops.length; i++) {
      const op = request.ops[i]!;
      try {
        if (
          op === null ||
          typeof op !== 'object' ||
          !['create', 'delete', 'setData', 'check'].includes(op.op)
        ) {
          throw new BadArgumentsError('a multi op must be create, delete, setData or check');
        }
        txns.push(this.prepOne(op, ctx));
      } catch (err) {
        if (!(err instanceof ConclaveError)) throw err;
        failedAt = i;
        failErr = err.errno;
        break;
      }
    }
    if (failedAt < 0) {
      this.changes.commit(token);
      return { type: 'multi', txns };
    }
    // All or nothing, as ZooKeeper reports it: ops before the failure OK (0), the failing op its
    // error, the ones after RUNTIMEINCONSISTENCY.
    this.changes.discard();
    const errs: Txn[] = request.ops.map((_, i) => ({
      type: 'error',
      err: i < failedAt ? 0 : i === failedAt ? failErr : ErrorCode.RUNTIMEINCONSISTENCY,
    }));
    return { type: 'multi', txns: errs };
  }

  private prepOne(op: MultiOp | SetACLRequest, ctx: PrepContext): Txn {
    switch (op.op) {
      case 'create':
        return this.prepCreate(op, ctx);
      case 'delete':
        return this.prepDelete(op, ctx);
      case 'setData':
        return this.prepSetData(op, ctx);
      case 'setACL':
        return this.prepSetACL(op, ctx);
      case 'check':
        return this.prepCheck(op, ctx);
      default:
        throw new BadArgumentsError(`${String((op as { op: unknown }).op)} is not a write request`);
    }
  }

  private prepCreate(op: CreateRequest, ctx: PrepContext): Txn {
    const mode = op.mode;
    if (typeof mode !== 'number' || createModeName(mode) === undefined) {
      throw new BadArgumentsError(`unknown create mode ${String(mode)}`, op.path);
    }
    if (isTtl(mode)) {
      const ttl = op.ttlMs;
      if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl <= 0 || ttl > MAX_TTL_MS) {
        throw new BadArgumentsError(
          `a TTL node needs ttlMs between 1 and ${MAX_TTL_MS}, not ${String(ttl)}`,
          op.path,
        );
      }
    } else if (op.ttlMs !== undefined && op.ttlMs !== null) {
      throw new BadArgumentsError('ttlMs is only allowed with the TTL create modes', op.path);
    }
    if (isEphemeral(mode) && ctx.sessionId === 0n) {
      throw new BadArgumentsError('an ephemeral node needs a session', op.path);
    }
    const sequential = isSequential(mode);
    checkPath(op.path, sequential);
    this.checkData(op.data, op.path);
    const slash = op.path.lastIndexOf('/');
    const parentPath = slash === 0 ? '/' : op.path.slice(0, slash);
    const acl = fixupAcl(op.path, op.acl, ctx.authIds);
    const parent = this.changes.get(parentPath);
    if (parent === undefined) throw new NoNodeError(`the parent ${parentPath} does not exist`, op.path);
    this.requirePerm(parent.acl, Perms.CREATE, ctx, op.path);
    const path = sequential ? op.path + sequenceSuffix(parent.cversion) : op.path;
    validatePath(path);
    if (this.changes.get(path) !== undefined) throw new NodeExistsError(undefined, path);
    if (ephemeralKind(parent.ephemeralOwner).kind === 'ephemeral') {
      throw new NoChildrenForEphemeralsError(undefined, path);
    }
    const parentCVersion = (parent.cversion + 1) | 0;
    const ephemeralOwner = isContainer(mode)
      ? CONTAINER_EPHEMERAL_OWNER
      : isTtl(mode)
        ? ttlEphemeralOwner(op.ttlMs!)
        : isEphemeral(mode)
          ? ctx.sessionId
          : 0n;
    this.changes.put(parentPath, {
      ...parent,
      cversion: parentCVersion,
      numChildren: parent.numChildren + 1,
    });
    this.changes.put(path, {
      exists: true,
      version: 0,
      cversion: 0,
      aversion: 0,
      numChildren: 0,
      ephemeralOwner,
      acl,
      mtime: ctx.nowMs,
      token: 0,
    });
    return { type: 'create', path, data: op.data, acl, ephemeralOwner, parentCVersion };
  }

  private prepDelete(op: DeleteRequest, ctx: PrepContext): Txn {
    checkPath(op.path);
    if (op.path === '/') throw new BadArgumentsError('the root node cannot be deleted', op.path);
    const parentPath = parentOf(op.path);
    const parent = this.changes.get(parentPath);
    if (parent === undefined) throw new NoNodeError(undefined, op.path);
    this.requirePerm(parent.acl, Perms.DELETE, ctx, op.path);
    const node = this.changes.get(op.path);
    if (node === undefined) throw new NoNodeError(undefined, op.path);
    this.checkVersion(node.version, op.version, op.path);
    if (node.numChildren > 0) throw new NotEmptyError(undefined, op.path);
    this.stageDelete(op.path, node);
    return { type: 'delete', path: op.path };
  }

  private prepSetData(op: SetDataRequest, ctx: PrepContext): Txn {
    checkPath(op.path);
    this.checkData(op.data, op.path);
    const node = this.changes.get(op.path);
    if (node === undefined) throw new NoNodeError(undefined, op.path);
    this.requirePerm(node.acl, Perms.WRITE, ctx, op.path);
    this.checkVersion(node.version, op.version, op.path);
    const version = nextVersion(node.version);
    this.changes.put(op.path, { ...node, version, mtime: ctx.nowMs });
    return { type: 'setData', path: op.path, data: op.data, version };
  }

  private prepSetACL(op: SetACLRequest, ctx: PrepContext): Txn {
    checkPath(op.path);
    const acl = fixupAcl(op.path, op.acl, ctx.authIds);
    const node = this.changes.get(op.path);
    if (node === undefined) throw new NoNodeError(undefined, op.path);
    this.requirePerm(node.acl, Perms.ADMIN, ctx, op.path);
    this.checkVersion(node.aversion, op.version, op.path);
    const version = nextVersion(node.aversion);
    // Later preps must be checked against the new ACL (ZooKeeper learned this the hard way: TOCTOU).
    this.changes.put(op.path, { ...node, aversion: version, acl });
    return { type: 'setACL', path: op.path, acl, version };
  }

  private prepCheck(op: CheckRequest, ctx: PrepContext): Txn {
    checkPath(op.path);
    const node = this.changes.get(op.path);
    if (node === undefined) throw new NoNodeError(undefined, op.path);
    this.requirePerm(node.acl, Perms.READ, ctx, op.path);
    this.checkVersion(node.version, op.version, op.path);
    // The txn records the version that held, so apply can assert it still does.
    return { type: 'check', path: op.path, version: node.version };
  }

  private closeSessionTxn(sessionId: bigint, token: number): Txn {
    const ephemerals = this.changes.ephemeralsOf(sessionId);
    for (const path of ephemerals) this.stageDelete(path, this.changes.get(path)!);
    this.changes.commit(token);
    this.closing.set(sessionId, token);
    return { type: 'closeSession', ephemerals };
  }

  // ---- helpers ----------------------------------------------------------------------------------

  /** Throws SessionExpiredError unless `sessionId` is open at prep time (or is 0, no session). */
  private checkSession(sessionId: bigint): void {
    if (sessionId === 0n) return;
    if (this.closing.has(sessionId)) {
      throw new SessionExpiredError(`session 0x${sessionId.toString(16)} is closing: create a new session`);
    }
    if (this.skipSessionCheck || this.opening.has(sessionId) || this.db.sessions.has(sessionId)) return;
    throw new SessionExpiredError(
      `session 0x${sessionId.toString(16)} is closed, expired or unknown: create a new session`,
    );
  }

  private stageDelete(path: string, node: ChangeRecord): void {
    const parentPath = parentOf(path);
    const parent = this.changes.get(parentPath)!;
    this.changes.put(parentPath, { ...parent, numChildren: parent.numChildren - 1 });
    this.changes.putDeleted(path, node);
  }

  private checkData(data: unknown, path: string): void {
    if (!(data instanceof Uint8Array)) throw new BadArgumentsError('data must be a Uint8Array', path);
    if (data.length > this.maxDataBytes) {
      throw new BadArgumentsError(
        `data of ${data.length} bytes exceeds the limit of ${this.maxDataBytes} bytes (maxDataBytes, ZooKeeper's jute.maxbuffer): store large values elsewhere and keep a reference in the znode`,
        path,
      );
    }
  }

  private checkVersion(current: number, expected: number, path: string): void {
    if (typeof expected !== 'number' || !Number.isInteger(expected)) {
      throw new BadArgumentsError(`version must be an integer (-1 for any), not ${String(expected)}`, path);
    }
    if (expected !== -1 && expected !== current) {
      throw new BadVersionError(`expected version ${expected} but the node is at version ${current}`, path);
    }
  }

  private requirePerm(acl: readonly ACL[], perm: number, ctx: PrepContext, path: string): void {
    if (isSuper(ctx.authIds, this.superDigest)) return;
    if (!checkPerms(acl, perm, ctx.authIds, ctx.clientIp)) {
      const name = Object.entries(Perms).find(([, v]) => v === perm)?.[0] ?? String(perm);
      throw new NoAuthError(`the ACL does not grant ${name} to this session: addAuth or fix the ACL`, path);
    }
  }
}

/**
 * Path rules of core (validatePath), Limits.maxPathLength (a sequential create's name grows by
 * 10 digits), plus a typed error for a path that is not even a string.
 */
function checkPath(path: unknown, sequential = false): asserts path is string {
  if (typeof path !== 'string') throw new BadArgumentsError(`a path must be a string, not ${typeof path}`);
  if (path.length + (sequential ? 10 : 0) > Limits.maxPathLength) {
    throw new BadArgumentsError(
      `a path must be at most ${Limits.maxPathLength} characters (got ${path.length}${sequential ? ' + 10 sequence digits' : ''})`,
      path.slice(0, 64),
    );
  }
  if (sequential) validateSequentialPath(path);
  else validatePath(path);
}
