import { ephemeralKind, pathProblem, type Txn } from '@conclave/core';
import type { DataTree } from './data-tree.js';

/**
 * The invariants of apply, checked for a whole txn BEFORE anything changes, so apply never fails
 * half-way. A violation means the preparer (or the log) produced a txn that does not fit the tree:
 * a bug, reported loudly as Error('invariant: ...') rather than papered over.
 *
 * A multi is checked against a small overlay that simulates its earlier sub-txns (create /a then
 * create /a/b), so the check needs no undo log.
 */

/** What the checks need to know about a node. */
interface NodeView {
  version: number;
  cversion: number;
  aversion: number;
  numChildren: number;
  ephemeralOwner: bigint;
}

/** The version after `v`, as ZooKeeper's checkAndIncVersion (skipping -1 after wrap-around, ZOOKEEPER-4743). */
export function nextVersion(v: number): number {
  const next = (v + 1) | 0;
  return next === -1 ? 0 : next;
}

export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}

class Overlay {
  private readonly changed = new Map<string, NodeView | null>();
  constructor(private readonly tree: DataTree) {}

  /** Ready for the next txn (one overlay per tree is reused: apply is on the hot path). */
  reset(): this {
    if (this.changed.size > 0) this.changed.clear();
    return this;
  }

  get(path: string): NodeView | undefined {
    const v = this.changed.get(path);
    if (v !== undefined) return v ?? undefined;
    return this.tree.getNode(path);
  }

  /** A private copy of the node to simulate a change on. */
  edit(path: string): NodeView {
    const cur = this.get(path)!;
    const copy: NodeView = {
      version: cur.version,
      cversion: cur.cversion,
      aversion: cur.aversion,
      numChildren: cur.numChildren,
      ephemeralOwner: cur.ephemeralOwner,
    };
    this.changed.set(path, copy);
    return copy;
  }

  put(path: string, view: NodeView | null): void {
    this.changed.set(path, view);
  }
}

const overlays = new WeakMap<DataTree, Overlay>();
function overlayFor(tree: DataTree): Overlay {
  let o = overlays.get(tree);
  if (o === undefined) {
    o = new Overlay(tree);
    overlays.set(tree, o);
  }
  return o.reset();
}

function fail(what: string): never {
  throw new Error(`invariant: ${what}`);
}

/** Throws Error('invariant: ...') unless `txn` applies cleanly to `tree` for session `sessionId`. */
export function checkTxn(tree: DataTree, sessionId: bigint, txn: Txn, sessionKnown: boolean): void {
  if (txn.type === 'multi') {
    const overlay = overlayFor(tree);
    let errors = 0;
    for (const sub of txn.txns) {
      if (sub.type === 'error') errors++;
      else if (
        sub.type === 'multi' ||
        sub.type === 'setACL' ||
        sub.type === 'createSession' ||
        sub.type === 'closeSession'
      ) {
        fail(`a multi may not contain a ${sub.type} txn`);
      }
    }
    if (errors > 0 && errors !== txn.txns.length) fail('a failed multi must hold only error txns');
    if (errors === 0) for (const sub of txn.txns) checkOne(overlay, sessionId, sub, true);
    return;
  }
  if (txn.type === 'createSession') {
    if (sessionKnown) fail(`session 0x${sessionId.toString(16)} is created twice`);
    if (!Number.isInteger(txn.timeoutMs) || txn.timeoutMs <= 0)
      fail(`session timeout ${txn.timeoutMs} is not positive`);
    if (!(txn.password instanceof Uint8Array)) fail('a session password must be bytes');
    return;
  }
  if (txn.type === 'closeSession') {
    const seen = new Set<string>();
    for (const path of txn.ephemerals) {
      if (seen.has(path)) fail(`closeSession lists ${path} twice`);
      seen.add(path);
      const node = tree.getNode(path);
      if (node === undefined) fail(`closeSession lists ${path}, which does not exist`);
      if (node.ephemeralOwner !== sessionId) fail(`closeSession lists ${path}, not owned by the session`);
    }
    return;
  }
  if (txn.type === 'error') {
    if (!Number.isInteger(txn.err)) fail(`error txn with err ${String(txn.err)}`);
    return;
  }
  checkOne(overlayFor(tree), sessionId, txn, false);
}

function checkOne(view: Overlay, sessionId: bigint, txn: Txn, inMulti: boolean): void {
  switch (txn.type) {
    case 'create': {
      const problem = pathProblem(txn.path);
      if (problem !== undefined || txn.path === '/') fail(`create of bad path ${JSON.stringify(txn.path)}`);
      if (!(txn.data instanceof Uint8Array)) fail(`create ${txn.path}: data must be bytes`);
      if (!Array.isArray(txn.acl) || txn.acl.length === 0) fail(`create ${txn.path}: empty ACL`);
      if (view.get(txn.path) !== undefined) fail(`create ${txn.path}: node exists`);
      const parentPath = parentOf(txn.path);
      const parent = view.get(parentPath);
      if (parent === undefined) fail(`create ${txn.path}: parent missing`);
      if (ephemeralKind(parent.ephemeralOwner).kind === 'ephemeral')
        fail(`create ${txn.path}: parent is ephemeral`);
      if (txn.parentCVersion !== ((parent.cversion + 1) | 0)) {
        fail(
          `create ${txn.path}: parentCVersion ${txn.parentCVersion} but the parent's cversion is ${parent.cversion}`,
        );
      }
      const kind = ephemeralKind(txn.ephemeralOwner);
      if (kind.kind === 'ephemeral' && txn.ephemeralOwner !== sessionId) {
        fail(`create ${txn.path}: ephemeral owner differs from the txn's session`);
      }
      if (inMulti) {
        const p = view.edit(parentPath);
        p.cversion = txn.parentCVersion;
        p.numChildren++;
        view.put(txn.path, {
          version: 0,
          cversion: 0,
          aversion: 0,
          numChildren: 0,
          ephemeralOwner: txn.ephemeralOwner,
        });
      }
      return;
    }
    case 'delete': {
      if (txn.path === '/') fail('delete of the root');
      const node = view.get(txn.path);
      if (node === undefined) fail(`delete ${txn.path}: no node`);
      if (node.numChildren !== 0) fail(`delete ${txn.path}: node has children`);
      if (inMulti) {
        view.edit(parentOf(txn.path)).numChildren--;
        view.put(txn.path, null);
      }
      return;
    }
    case 'setData': {
      const node = view.get(txn.path);
      if (node === undefined) fail(`setData ${txn.path}: no node`);
      if (!(txn.data instanceof Uint8Array)) fail(`setData ${txn.path}: data must be bytes`);
      if (txn.version !== nextVersion(node.version)) {
        fail(`setData ${txn.path}: version ${txn.version} does not follow ${node.version}`);
      }
      if (inMulti) view.edit(txn.path).version = txn.version;
      return;
    }
    case 'setACL': {
      const node = view.get(txn.path);
      if (node === undefined) fail(`setACL ${txn.path}: no node`);
      if (!Array.isArray(txn.acl) || txn.acl.length === 0) fail(`setACL ${txn.path}: empty ACL`);
      if (txn.version !== nextVersion(node.aversion)) {
        fail(`setACL ${txn.path}: aversion ${txn.version} does not follow ${node.aversion}`);
      }
      if (inMulti) view.edit(txn.path).aversion = txn.version;
      return;
    }
    case 'check': {
      const node = view.get(txn.path);
      if (node === undefined) fail(`check ${txn.path}: no node`);
      if (node.version !== txn.version)
        fail(`check ${txn.path}: version ${txn.version} but node has ${node.version}`);
      return;
    }
    default:
      fail(`unknown txn type ${(txn as { type: unknown }).type as string}`);
  }
}
