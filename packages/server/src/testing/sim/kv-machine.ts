import { applyZnodeOp, type ZnodeResult } from '../linearizability/index.js';
import { sequenceSuffix } from '@conclave/core';
import {
  isSessionOp,
  SIM_SESSIONEXPIRED,
  type SessionOp,
  type SimEntry,
  type SimStateMachine,
  type SimStateMachineFactory,
} from './entry.js';

/** A node of the session namespace: `owner` is the ephemeral's session, 0n for a persistent node. */
interface SessionNode {
  data: string;
  owner: bigint;
  container?: boolean;
}

interface KvSnapshot {
  lastZxid: bigint;
  digest: string;
  nodes: Array<[string, { data: string; version: number }]>;
  sessions: bigint[];
  chain: Array<[bigint, string]>;
  snodes: Array<[string, SessionNode]>;
  cversions: Array<[string, number]>;
}

/**
 * A small deterministic znode store with a hash-chained digest: the simulator's state machine until
 * the real Database is plugged in behind the same interface.
 */
export class KvStateMachine implements SimStateMachine {
  private nodes = new Map<string, { data: string; version: number }>();
  private sessionSet = new Set<bigint>();
  /** The session namespace (ephemeral and sequential nodes), apart from the linearizable keys. */
  private snodes = new Map<string, SessionNode>();
  /** Parent path → cversion (child creates + deletes), which names sequential children. */
  private cversions = new Map<string, number>();
  private chain = new Map<bigint, string>();
  private last = 0n;
  private dig = '0000000000000000';

  get lastZxid(): bigint {
    return this.last;
  }

  apply(entry: SimEntry): ZnodeResult | undefined {
    if (entry.zxid <= this.last) {
      throw new Error(
        `invariant: txn ${entry.zxid.toString(16)} applied twice (state at ${this.last.toString(16)})`,
      );
    }
    let result: ZnodeResult | undefined;
    switch (entry.kind) {
      case 'op':
        result = isSessionOp(entry.op) ? this.applySessionOp(entry.op) : applyZnodeOp(this.nodes, entry.op);
        break;
      case 'createSession':
        this.sessionSet.add(entry.sessionId);
        break;
      case 'closeSession':
        // ZooKeeper's closeSession: the session's ephemerals go in the same txn, in path order.
        if (this.sessionSet.delete(entry.sessionId)) {
          const owned = [...this.snodes].filter(([, n]) => n.owner === entry.sessionId).map(([p]) => p);
          for (const p of owned.sort()) this.removeChild(p);
        }
        break;
      case 'txn':
        throw new Error('invariant: the KV state machine does not take prepped txns');
    }
    this.last = entry.zxid;
    this.dig = chainHash(this.dig, entryKey(entry));
    this.chain.set(entry.zxid, this.dig);
    return result;
  }

  /** Ephemeral/sequential creates, all or nothing (a multi of creates, or a single one). */
  private applySessionOp(op: SessionOp): ZnodeResult {
    if (op.op === 'reap') {
      if (!this.containerCandidates().includes(op.path)) return { err: -111 };
      this.removeChild(op.path);
      this.cversions.delete(op.path);
      return { err: 0 };
    }
    const creates = op.op === 'smulti' ? op.ops : [op];
    const snodes = new Map(this.snodes);
    const cversions = new Map(this.cversions);
    const created: string[] = [];
    for (const c of creates) {
      const ephemeral = c.mode === 'ephemeral' || c.mode === 'ephemeralSequential';
      if (ephemeral && !this.sessionSet.has(c.session)) return { err: SIM_SESSIONEXPIRED };
      const parent = c.path.slice(0, c.path.lastIndexOf('/')) || '/';
      // Containers are the one parent this flat store models: their children need them to exist.
      if (parent.startsWith('/c') && !snodes.has(parent)) return { err: -101 };
      const cv = cversions.get(parent) ?? 0;
      const sequential = c.mode === 'ephemeralSequential' || c.mode === 'persistentSequential';
      const path = sequential ? c.path + sequenceSuffix(cv) : c.path;
      if (snodes.has(path)) return { err: -110 };
      const node: SessionNode = { data: c.data, owner: ephemeral ? c.session : 0n };
      if (c.mode === 'container') node.container = true;
      snodes.set(path, node);
      cversions.set(parent, cv + 1);
      created.push(path);
    }
    this.snodes = snodes;
    this.cversions = cversions;
    return { err: 0, created };
  }

  private removeChild(path: string): void {
    this.snodes.delete(path);
    const parent = path.slice(0, path.lastIndexOf('/')) || '/';
    this.cversions.set(parent, (this.cversions.get(parent) ?? 0) + 1);
  }

  ephemerals(): Array<[string, bigint]> {
    const out: Array<[string, bigint]> = [];
    for (const [p, n] of this.snodes) if (n.owner !== 0n) out.push([p, n.owner]);
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  containerCandidates(): string[] {
    const out: string[] = [];
    for (const [p, n] of this.snodes) {
      if (n.container !== true || (this.cversions.get(p) ?? 0) === 0) continue;
      const prefix = `${p}/`;
      let children = false;
      for (const q of this.snodes.keys()) {
        if (q.startsWith(prefix)) {
          children = true;
          break;
        }
      }
      if (!children) out.push(p);
    }
    return out.sort();
  }

  has(path: string): boolean {
    return this.snodes.has(path) || this.nodes.has(path);
  }

  read(path: string): ZnodeResult {
    return applyZnodeOp(this.nodes, { op: 'get', path });
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
    return [...this.sessionSet];
  }

  snapshot(): KvSnapshot {
    return {
      lastZxid: this.last,
      digest: this.dig,
      nodes: [...this.nodes].map(([k, v]) => [k, { ...v }]),
      sessions: [...this.sessionSet],
      chain: [...this.chain],
      snodes: [...this.snodes].map(([k, v]) => [k, { ...v }]),
      cversions: [...this.cversions],
    };
  }

  static restore(snap: unknown): KvStateMachine {
    const s = snap as KvSnapshot;
    const m = new KvStateMachine();
    m.last = s.lastZxid;
    m.dig = s.digest;
    m.nodes = new Map(s.nodes.map(([k, v]) => [k, { ...v }]));
    m.sessionSet = new Set(s.sessions);
    m.chain = new Map(s.chain);
    m.snodes = new Map(s.snodes.map(([k, v]) => [k, { ...v }]));
    m.cversions = new Map(s.cversions);
    return m;
  }
}

export const kvStateMachineFactory: SimStateMachineFactory = {
  empty: () => new KvStateMachine(),
  restore: (snap) => KvStateMachine.restore(snap),
};

/** A stable text form of an entry (what the digest chain hashes). */
export function entryKey(e: SimEntry): string {
  switch (e.kind) {
    case 'op':
      return `${e.zxid}|op|${e.clientId}|${e.reqId}|${JSON.stringify(e.op, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))}`;
    case 'createSession':
      return `${e.zxid}|cs|${e.sessionId}|${e.timeoutTicks}`;
    case 'closeSession':
      return `${e.zxid}|xs|${e.sessionId}`;
    case 'txn':
      return `${e.zxid}|txn|${e.clientId}|${e.reqId}|${e.sessionId}|${JSON.stringify(e.txn, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? [...v] : v))}`;
  }
}

/** Two FNV-1a 32-bit hashes (different offsets) chained with the previous digest: 64 bits of hex. */
function chainHash(prev: string, text: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ 0x5bd1e995;
  const s = prev + text;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x01000193 + 2) >>> 0;
  }
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}
