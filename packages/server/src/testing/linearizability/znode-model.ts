import type { Model, Operation } from './model.js';

/** ZooKeeper error numbers the model produces (as core's ErrorCode). */
export const ZNODE_OK = 0;
export const ZNODE_NONODE = -101;
export const ZNODE_BADVERSION = -103;
export const ZNODE_NODEEXISTS = -110;
export const ZNODE_RUNTIMEINCONSISTENCY = -2;

/** One znode operation. `version: -1` matches any version, as in ZooKeeper. */
export type ZnodeOp =
  | { op: 'create'; path: string; data: string }
  | { op: 'delete'; path: string; version: number }
  | { op: 'set'; path: string; data: string; version: number }
  /** Compare-and-set: set only if the current data equals `expect`. */
  | { op: 'cas'; path: string; expect: string; data: string }
  | { op: 'get'; path: string }
  | { op: 'check'; path: string; version: number }
  | { op: 'multi'; ops: ZnodeOp[] };

export interface ZnodeResult {
  err: number;
  /** get: the data; set/cas: undefined. */
  data?: string;
  /** get/set/cas: the node's data version after the op. */
  version?: number;
  /**
   * Paths a successful create made (sequential names resolved), in op order. Informational: the
   * simulator's ephemeral/sequential checks read it; {@link znodeModel} ignores it.
   */
  created?: string[];
}

/** An immutable znode store: sorted `[path, data, version]` triples (small per partition). */
export type ZnodeState = ReadonlyMap<string, { data: string; version: number }>;

/** Applies one op to a mutable copy; returns the result (multi: all or nothing). */
export function applyZnodeOp(
  state: Map<string, { data: string; version: number }>,
  op: ZnodeOp,
): ZnodeResult {
  switch (op.op) {
    case 'create':
      if (state.has(op.path)) return { err: ZNODE_NODEEXISTS };
      state.set(op.path, { data: op.data, version: 0 });
      return { err: ZNODE_OK };
    case 'delete': {
      const n = state.get(op.path);
      if (n === undefined) return { err: ZNODE_NONODE };
      if (op.version !== -1 && op.version !== n.version) return { err: ZNODE_BADVERSION };
      state.delete(op.path);
      return { err: ZNODE_OK };
    }
    case 'set': {
      const n = state.get(op.path);
      if (n === undefined) return { err: ZNODE_NONODE };
      if (op.version !== -1 && op.version !== n.version) return { err: ZNODE_BADVERSION };
      state.set(op.path, { data: op.data, version: n.version + 1 });
      return { err: ZNODE_OK, version: n.version + 1 };
    }
    case 'cas': {
      const n = state.get(op.path);
      if (n === undefined) return { err: ZNODE_NONODE };
      if (n.data !== op.expect) return { err: ZNODE_BADVERSION };
      state.set(op.path, { data: op.data, version: n.version + 1 });
      return { err: ZNODE_OK, version: n.version + 1 };
    }
    case 'get': {
      const n = state.get(op.path);
      return n === undefined ? { err: ZNODE_NONODE } : { err: ZNODE_OK, data: n.data, version: n.version };
    }
    case 'check': {
      const n = state.get(op.path);
      if (n === undefined) return { err: ZNODE_NONODE };
      return { err: op.version === -1 || op.version === n.version ? ZNODE_OK : ZNODE_BADVERSION };
    }
    case 'multi': {
      const scratch = new Map(state);
      for (const sub of op.ops) {
        const r = applyZnodeOp(scratch, sub);
        if (r.err !== ZNODE_OK) return { err: r.err };
      }
      state.clear();
      for (const [k, v] of scratch) state.set(k, v);
      return { err: ZNODE_OK };
    }
  }
}

/** The paths an op touches. */
export function znodePaths(op: ZnodeOp): string[] {
  return op.op === 'multi' ? op.ops.flatMap(znodePaths) : [op.path];
}

function resultEqual(a: ZnodeResult, b: ZnodeResult): boolean {
  return a.err === b.err && a.data === b.data && a.version === b.version;
}

/**
 * ZooKeeper's znode semantics (create/delete/set/cas/get/check/multi) as a sequential
 * specification, partitioned per connected group of paths (multi joins the paths it touches).
 */
export const znodeModel: Model<ZnodeState, ZnodeOp, ZnodeResult> = {
  init: () => new Map(),
  apply(state, input) {
    const next = new Map(state);
    const output = applyZnodeOp(next, input);
    return {
      state: output.err === ZNODE_OK && input.op !== 'get' && input.op !== 'check' ? next : state,
      output,
    };
  },
  equal: resultEqual,
  hash(state) {
    const keys = [...state.keys()].sort();
    let s = '';
    for (const k of keys) {
      const n = state.get(k)!;
      s += `${k}\u0000${n.version}\u0000${n.data}\u0001`;
    }
    return s;
  },
  partition(ops) {
    return partitionByPaths(ops, (op) => znodePaths(op.input));
  },
  describeInput(i) {
    if (i.op === 'multi') return `multi(${i.ops.map((o) => znodeModel.describeInput!(o)).join(', ')})`;
    switch (i.op) {
      case 'create':
        return `create(${i.path}, ${JSON.stringify(i.data)})`;
      case 'delete':
        return `delete(${i.path}, v${i.version})`;
      case 'set':
        return `set(${i.path}, ${JSON.stringify(i.data)}, v${i.version})`;
      case 'cas':
        return `cas(${i.path}, ${JSON.stringify(i.expect)} -> ${JSON.stringify(i.data)})`;
      case 'get':
        return `get(${i.path})`;
      case 'check':
        return `check(${i.path}, v${i.version})`;
    }
  },
  describeOutput(o) {
    if (o.err !== ZNODE_OK) return `err ${o.err}`;
    if (o.data !== undefined) return `${JSON.stringify(o.data)}@v${o.version}`;
    return o.version !== undefined ? `ok v${o.version}` : 'ok';
  },
};

/** Groups ops into connected components of the keys they touch (union-find). */
export function partitionByPaths<T>(ops: T[], keysOf: (op: T) => string[]): T[][] {
  const parent = new Map<string, string>();
  const find = (k: string): string => {
    let r = k;
    while (parent.get(r) !== r) r = parent.get(r)!;
    let c = k;
    while (parent.get(c) !== r) {
      const n = parent.get(c)!;
      parent.set(c, r);
      c = n;
    }
    return r;
  };
  for (const op of ops) {
    const keys = keysOf(op);
    for (const k of keys) if (!parent.has(k)) parent.set(k, k);
    for (let i = 1; i < keys.length; i++) {
      const a = find(keys[0]!);
      const b = find(keys[i]!);
      if (a !== b) parent.set(a, b);
    }
  }
  const groups = new Map<string, T[]>();
  for (const op of ops) {
    const keys = keysOf(op);
    const root = keys.length === 0 ? '' : find(keys[0]!);
    let g = groups.get(root);
    if (g === undefined) groups.set(root, (g = []));
    g.push(op);
  }
  return [...groups.values()];
}

export type ZnodeOperation = Operation<ZnodeOp, ZnodeResult>;
