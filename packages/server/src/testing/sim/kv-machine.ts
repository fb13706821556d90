import { applyZnodeOp, type ZnodeResult } from '../linearizability/index.js';
import type { SimEntry, SimStateMachine, SimStateMachineFactory } from './entry.js';

interface KvSnapshot {
  lastZxid: bigint;
  digest: string;
  nodes: Array<[string, { data: string; version: number }]>;
  sessions: bigint[];
  chain: Array<[bigint, string]>;
}

/**
 * A small deterministic znode store with a hash-chained digest: the simulator's state machine until
 * the real Database is plugged in behind the same interface.
 */
export class KvStateMachine implements SimStateMachine {
  private nodes = new Map<string, { data: string; version: number }>();
  private sessionSet = new Set<bigint>();
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
        result = applyZnodeOp(this.nodes, entry.op);
        break;
      case 'createSession':
        this.sessionSet.add(entry.sessionId);
        break;
      case 'closeSession':
        this.sessionSet.delete(entry.sessionId);
        break;
      case 'txn':
        throw new Error('invariant: the KV state machine does not take prepped txns');
    }
    this.last = entry.zxid;
    this.dig = chainHash(this.dig, entryKey(entry));
    this.chain.set(entry.zxid, this.dig);
    return result;
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
      return `${e.zxid}|op|${e.clientId}|${e.reqId}|${JSON.stringify(e.op)}`;
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
