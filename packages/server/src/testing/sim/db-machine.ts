import {
  CreateMode,
  type CreateModeFlag,
  type MultiOp,
  OPEN_ACL_UNSAFE,
  type Txn,
  type TxnEntry,
} from '@conclave/core';
import { Database, Preparer } from '../../datatree/index.js';
import { ZNODE_RUNTIMEINCONSISTENCY, type ZnodeResult } from '../linearizability/index.js';
import {
  isSessionOp,
  type SimCreateMode,
  type SimEntry,
  type SimEntryBody,
  type SimOp,
  type SimStateMachine,
  type SimStateMachineFactory,
} from './entry.js';

/** Milliseconds per tick used to turn session timeouts into ms for createSession txns. */
const SIM_TICK_MS = 100;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The real replicated state: the server's {@link Database} (DataTree + sessions), with leader-side
 * prep through its {@link Preparer}, exactly as the server does: client ops become deterministic
 * txns on the leader, every member applies the txns. The digest chain hashes each txn together
 * with the Database's own digest after it, so a non-deterministic apply shows as a divergence.
 *
 * Snapshots are the list of applied txns (replayed on restore): the simulator is synchronous and
 * Database.restore is async; serialize/restore are covered by the datatree's own tests.
 */
export class DbStateMachine implements SimStateMachine {
  private db = new Database();
  private readonly preparer: Preparer;
  private readonly applied: SimEntry[] = [];
  private readonly chain = new Map<bigint, string>();
  private dig = '0000000000000000';

  /**
   * @param checkSessions the leader's Preparer refuses requests of closed or unknown sessions (as
   *   it must); false only in tests proving the ephemeral checks catch a leader that forgets to
   *   (it sets the Preparer's test-only unsafeSkipSessionCheck).
   */
  constructor(checkSessions = true) {
    this.preparer = new Preparer(this.db, { unsafeSkipSessionCheck: !checkSessions });
  }

  get lastZxid(): bigint {
    return this.db.lastZxid;
  }

  apply(entry: SimEntry): ZnodeResult | undefined {
    if (entry.zxid <= this.db.lastZxid) {
      throw new Error(
        `invariant: txn ${entry.zxid.toString(16)} applied twice (state at ${this.db.lastZxid.toString(16)})`,
      );
    }
    const txnEntry = toTxnEntry(entry);
    const r = this.db.apply(txnEntry);
    this.applied.push(entry);
    this.dig = chain(this.dig, `${entry.zxid}|${JSON.stringify(txnEntry.txn, replacer)}|${this.db.digest()}`);
    this.chain.set(entry.zxid, this.dig);
    if (entry.kind !== 'txn') return undefined;
    if (r.err !== 0) {
      if (entry.txn.type === 'multi' && r.result !== undefined && 'results' in r.result) {
        const errs = (r.result.results as Array<{ err?: number }>).map((x) => x.err ?? 0);
        const first = errs.find((e) => e !== 0 && e !== ZNODE_RUNTIMEINCONSISTENCY);
        return { err: first ?? r.err };
      }
      return { err: r.err };
    }
    if (entry.txn.type === 'create' && r.result !== undefined && 'path' in r.result) {
      return { err: 0, created: [(r.result as { path: string }).path] };
    }
    if (entry.txn.type === 'multi' && r.result !== undefined && 'results' in r.result) {
      const created = (r.result.results as Array<{ op: string; path?: string }>)
        .filter((x) => x.op === 'create' && x.path !== undefined)
        .map((x) => x.path!);
      return { err: 0, created };
    }
    if (entry.txn.type === 'setData' && r.result !== undefined && 'stat' in r.result) {
      return { err: 0, version: (r.result as { stat: { version: number } }).stat.version };
    }
    return { err: 0 };
  }

  read(path: string): ZnodeResult {
    const stat = this.db.tree.exists(path);
    if (stat === null) return { err: -101 };
    const { data } = this.db.tree.getData(path);
    return { err: 0, data: decoder.decode(data), version: stat.version };
  }

  digest(): string {
    return this.dig;
  }

  digestAt(zxid: bigint): string | undefined {
    return this.chain.get(zxid);
  }

  historyZxids(): bigint[] {
    return [...this.chain.keys()];
  }

  sessions(): bigint[] {
    return [...this.db.sessions.keys()];
  }

  ephemerals(): Array<[string, bigint]> {
    const out: Array<[string, bigint]> = [];
    for (const s of this.db.tree.ephemeralOwners()) {
      // Only real sessions: containers and TTL nodes are indexed under reserved owner values.
      if (s <= 0n || s >= 1n << 56n) continue;
      for (const p of this.db.tree.ephemeralsOf(s)) out.push([p, s]);
    }
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  containerCandidates(): string[] {
    return this.db.containerCandidates();
  }

  has(path: string): boolean {
    return this.db.tree.exists(path) !== null;
  }

  snapshot(): unknown {
    return { applied: this.applied.slice(), chain: [...this.chain], digest: this.dig };
  }

  static restore(snap: unknown, checkSessions = true): DbStateMachine {
    const s = snap as { applied: SimEntry[]; chain: Array<[bigint, string]>; digest: string };
    const m = new DbStateMachine(checkSessions);
    for (const e of s.applied) {
      m.db.apply(toTxnEntry(e));
      m.applied.push(e);
    }
    for (const [z, d] of s.chain) m.chain.set(z, d);
    m.dig = s.digest;
    return m;
  }

  /**
   * Leader-side prep: a client op or a session close becomes a deterministic txn against the
   * database plus the outstanding (proposed, unapplied) changes.
   */
  prep(body: SimEntryBody, nowMs: number): { body: SimEntryBody; token: number } | undefined {
    if (body.kind === 'op' && body.op.op === 'reap') {
      // Re-checked against the outstanding changes; no longer eligible = a harmless error txn.
      const r = this.preparer.reap(body.op.path, nowMs) ?? {
        txn: { type: 'error' as const, err: -111 },
        token: this.preparer.lastToken,
      };
      return {
        body: {
          kind: 'txn',
          clientId: body.clientId,
          reqId: body.reqId,
          sessionId: 0n,
          time: nowMs,
          txn: r.txn,
        },
        token: r.token,
      };
    }
    if (body.kind === 'op') {
      const sessionId = sessionOf(body.op);
      // The Preparer checks the session first, as ZooKeeper's PrepRequestProcessor does: a request
      // of a closed, closing or unknown session becomes a SESSIONEXPIRED error txn.
      const r = this.preparer.prep(toRequest(body.op), { sessionId, authIds: [], nowMs });
      return {
        body: {
          kind: 'txn',
          clientId: body.clientId,
          reqId: body.reqId,
          sessionId,
          time: nowMs,
          txn: r.txn,
        },
        token: r.token,
      };
    }
    if (body.kind === 'createSession') {
      // Prepped (the entry itself is unchanged) so the session's requests are accepted from now
      // on, before this entry is applied; the token settles when it is.
      this.preparer.createSession(body.timeoutTicks * SIM_TICK_MS, new Uint8Array(16), body.sessionId);
      return { body, token: this.preparer.lastToken };
    }
    if (body.kind === 'closeSession') {
      const txn = this.preparer.closeSession(body.sessionId);
      return {
        body: { kind: 'txn', clientId: -1, reqId: -1, sessionId: body.sessionId, time: nowMs, txn },
        token: this.preparer.lastToken,
      };
    }
    return undefined;
  }

  settle(token: number): void {
    this.preparer.settle(token);
  }

  resetPrep(): void {
    this.preparer.reset();
  }
}

export const dbStateMachineFactory: SimStateMachineFactory = dbStateMachineFactoryWith(true);

/** A Database factory whose leader-side session check can be switched off (bug-proof tests). */
export function dbStateMachineFactoryWith(checkSessions: boolean): SimStateMachineFactory {
  return {
    empty: () => new DbStateMachine(checkSessions),
    restore: (snap) => DbStateMachine.restore(snap, checkSessions),
  };
}

function toTxnEntry(e: SimEntry): TxnEntry {
  switch (e.kind) {
    case 'txn':
      return { zxid: e.zxid, sessionId: e.sessionId, cxid: e.reqId, time: e.time, txn: e.txn };
    case 'createSession':
      return {
        zxid: e.zxid,
        sessionId: e.sessionId,
        cxid: 0,
        time: 0,
        txn: { type: 'createSession', timeoutMs: e.timeoutTicks * SIM_TICK_MS, password: new Uint8Array(16) },
      };
    case 'closeSession':
      // Only reaches here unprepped when no preparer ran (should not happen in database mode).
      return {
        zxid: e.zxid,
        sessionId: e.sessionId,
        cxid: 0,
        time: 0,
        txn: { type: 'closeSession', ephemerals: [] },
      };
    case 'op':
      throw new Error('invariant: an unprepped client op reached the Database');
  }
}

/** The session an op runs in: the ephemeral owner of session-namespace ops, else none (0n). */
function sessionOf(op: SimOp): bigint {
  if (op.op === 'screate')
    return op.mode === 'container' || op.mode === 'persistentSequential' ? 0n : op.session;
  if (op.op === 'smulti') return op.ops[0]?.session ?? 0n;
  return 0n;
}

const MODES: Record<SimCreateMode, CreateModeFlag> = {
  ephemeral: CreateMode.EPHEMERAL,
  ephemeralSequential: CreateMode.EPHEMERAL_SEQUENTIAL,
  persistentSequential: CreateMode.PERSISTENT_SEQUENTIAL,
  container: CreateMode.CONTAINER,
};

function toRequest(op: SimOp): Parameters<Preparer['prep']>[0] {
  if (op.op === 'reap') throw new Error('invariant: reap is prepped by Preparer.reap');
  if (isSessionOp(op)) {
    const creates = op.op === 'smulti' ? op.ops : [op];
    const reqs = creates.map((c) => ({
      op: 'create' as const,
      path: c.path,
      data: encoder.encode(c.data),
      acl: [...OPEN_ACL_UNSAFE],
      mode: MODES[c.mode],
    }));
    return op.op === 'smulti' ? { op: 'multi', ops: reqs as MultiOp[] } : reqs[0]!;
  }
  switch (op.op) {
    case 'create':
      return {
        op: 'create',
        path: op.path,
        data: encoder.encode(op.data),
        acl: [...OPEN_ACL_UNSAFE],
        mode: CreateMode.PERSISTENT,
      };
    case 'delete':
      return { op: 'delete', path: op.path, version: op.version };
    case 'set':
      return { op: 'setData', path: op.path, data: encoder.encode(op.data), version: op.version };
    case 'check':
      return { op: 'check', path: op.path, version: op.version };
    case 'multi':
      return { op: 'multi', ops: op.ops.map((o) => toRequest(o) as MultiOp) };
    case 'cas':
    case 'get':
      throw new Error(`invariant: ${op.op} is not a Database write`);
  }
}

function replacer(_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Uint8Array) return decoder.decode(v);
  return v;
}

function chain(prev: string, text: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x5bd1e995;
  const s = prev + text;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x01000195) >>> 0;
  }
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}

export type { Txn };
