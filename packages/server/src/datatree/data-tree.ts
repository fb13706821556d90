import {
  type ACL,
  CONTAINER_EPHEMERAL_OWNER,
  ephemeralKind,
  type GetACLResult,
  type GetChildrenResult,
  type GetDataResult,
  NoNodeError,
  OPEN_ACL_UNSAFE,
  type Stat,
  TTL_EPHEMERAL_OWNER_MASK,
} from '@conclave/core';
import { AclCache, type AclEntry } from './acl-cache.js';
import { Hasher, SEED_DATA, SEED_META, TreeDigest } from './digest.js';
import { dataOf, nameOf, type StoredData, storeBytes, Znode } from './znode.js';

/**
 * The znode store: a flat map from path to {@link Znode} (ZooKeeper's NodeHashMap), each node
 * holding its children's names, plus the indexes apply needs: ephemerals by owning session,
 * container and TTL paths, interned ACLs, and the incremental digest.
 *
 * Reads are public; the mutators (`createNode`, `deleteNode`, `setNodeData`, `setNodeAcl`) are
 * for {@link Database.apply}, which checks every precondition before calling them — they assume
 * valid input and keep every index and the digest in step.
 *
 * Iteration order of the map is creation order, so a parent always comes before its children
 * (a parent cannot be deleted while it has children): snapshots rely on that.
 */
export class DataTree {
  private readonly nodes = new Map<string, Znode>();
  private readonly ephemerals = new Map<bigint, Set<string>>();
  private readonly containers = new Set<string>();
  private readonly ttls = new Set<string>();
  /** @internal */ readonly acls = new AclCache();
  /** @internal */ readonly digestSum = new TreeDigest();
  private readonly hasher = new Hasher();
  // The parent of the node loaded last (snapshot restore only).
  private loadParent: Znode | null = null;
  private loadParentLength = -1;
  // Path-hash state of the node being changed (saved so data and meta terms share one path hash).
  private pa = 0;
  private pb = 0;
  // Running totals for mntr, kept in step by every mutator so a scrape is O(1), not a tree walk.
  private _approximateDataBytes = '/'.length;
  private _ephemeralCount = 0;

  constructor() {
    const root = new Znode('/', '', this.acls.acquire(OPEN_ACL_UNSAFE), 0n, 0n, 0n, 0, 0, 0, 0, 0, 0n);
    this.nodes.set('/', root);
    this.hashPath('/');
    this.dataTerm('', 1);
    this.metaTerm(root, 1);
  }

  // ---- reads -------------------------------------------------------------------------------

  /** Number of znodes, the root included. */
  get nodeCount(): number {
    return this.nodes.size;
  }

  /** Sum over every node of its path length and data length (ZooKeeper's approximateDataSize); O(1). */
  get approximateDataBytes(): number {
    return this._approximateDataBytes;
  }

  /** Ephemeral znodes (owned by a session; containers and TTL nodes excluded); O(1). */
  get ephemeralCount(): number {
    return this._ephemeralCount;
  }

  /** The node itself (do not mutate it), or undefined. */
  getNode(path: string): Znode | undefined {
    return this.nodes.get(path);
  }

  /** The node's Stat, or null when there is no node at `path`. */
  exists(path: string): Stat | null {
    const node = this.nodes.get(path);
    return node === undefined ? null : node.stat();
  }

  /** Data and Stat; throws NoNodeError. The data array is shared: treat it as read-only. */
  getData(path: string): GetDataResult {
    const node = this.nodes.get(path);
    if (node === undefined) throw new NoNodeError(undefined, path);
    return { data: dataOf(node), stat: node.stat() };
  }

  /** Children names (unordered, as ZooKeeper) and the Stat; throws NoNodeError. */
  getChildren(path: string): GetChildrenResult {
    const node = this.nodes.get(path);
    if (node === undefined) throw new NoNodeError(undefined, path);
    const children: string[] = [];
    if (node.children !== null) for (const child of node.children) children.push(nameOf(child));
    return { children, stat: node.stat() };
  }

  /** The ACL and the Stat; throws NoNodeError. */
  getACL(path: string): GetACLResult {
    const node = this.nodes.get(path);
    if (node === undefined) throw new NoNodeError(undefined, path);
    return { acl: [...node.acl.acl], stat: node.stat() };
  }

  /** The node's ACL (shared, frozen), or undefined when there is no node. */
  aclOf(path: string): readonly ACL[] | undefined {
    return this.nodes.get(path)?.acl.acl;
  }

  /** Number of descendants of `path` (not counting itself); throws NoNodeError. */
  allChildrenNumber(path: string): number {
    const node = this.nodes.get(path);
    if (node === undefined) throw new NoNodeError(undefined, path);
    if (path === '/') return this.nodes.size - 1;
    let count = 0;
    const stack: Znode[] = [node];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n.children === null) continue;
      for (const child of n.children) {
        count++;
        stack.push(child);
      }
    }
    return count;
  }

  /** Paths of the ephemerals a session owns, sorted. */
  ephemeralsOf(sessionId: bigint): string[] {
    const set = this.ephemerals.get(sessionId);
    return set === undefined ? [] : [...set].sort();
  }

  /** Sessions owning at least one ephemeral. */
  ephemeralOwners(): bigint[] {
    return [...this.ephemerals.keys()];
  }

  /** Containers that once had a child and have none now (ZooKeeper's ContainerManager rule), sorted. */
  containerCandidates(): string[] {
    const out: string[] = [];
    for (const path of this.containers) {
      const node = this.nodes.get(path)!;
      if (node.cversion > 0 && node.numChildren === 0) out.push(path);
    }
    return out.sort();
  }

  /** Childless TTL nodes whose last data change is more than their TTL before `nowMs`, sorted. */
  ttlExpired(nowMs: number): string[] {
    const out: string[] = [];
    for (const path of this.ttls) {
      const node = this.nodes.get(path)!;
      const kind = ephemeralKind(node.ephemeralOwner);
      if (kind.kind === 'ttl' && node.numChildren === 0 && nowMs - node.mtime > kind.ttlMs) out.push(path);
    }
    return out.sort();
  }

  /** Every path, parents before children. */
  paths(): IterableIterator<string> {
    return this.nodes.keys();
  }

  /** @internal Every (path, node), parents before children. */
  entries(): IterableIterator<[string, Znode]> {
    return this.nodes.entries();
  }

  /** The tree's digest alone (Database.digest() adds the sessions). */
  digest(): string {
    return this.digestSum.hex();
  }

  // ---- mutators (preconditions checked by the caller) ---------------------------------------

  /** @internal */
  createNode(
    path: string,
    parentPath: string,
    data: Uint8Array,
    acl: readonly ACL[],
    ephemeralOwner: bigint,
    parentCVersion: number,
    zxid: bigint,
    time: number,
  ): Znode {
    const parent = this.nodes.get(parentPath)!;
    this.hashPath(parentPath);
    this.metaTerm(parent, -1);
    parent.cversion = parentCVersion;
    parent.pzxid = zxid;
    const bytes = storeBytes(data);
    const node = new Znode(
      path,
      bytes,
      this.acls.acquire(acl),
      zxid,
      zxid,
      zxid,
      time,
      time,
      0,
      0,
      0,
      ephemeralOwner,
    );
    if (parent.children === null) parent.children = new Set();
    parent.children.add(node);
    this.metaTerm(parent, 1);

    this.nodes.set(path, node);
    this._approximateDataBytes += path.length + bytes.length;
    this.hashPath(path);
    this.dataTerm(bytes, 1);
    this.metaTerm(node, 1);
    this.index(path, ephemeralOwner, 1);
    return node;
  }

  /** @internal */
  deleteNode(path: string, parentPath: string, zxid: bigint): void {
    const node = this.nodes.get(path)!;
    const parent = this.nodes.get(parentPath)!;
    this.hashPath(path);
    this.dataTerm(node.stored, -1);
    this.metaTerm(node, -1);
    this.nodes.delete(path);
    this._approximateDataBytes -= path.length + node.stored.length;
    this.acls.release(node.acl);
    this.index(path, node.ephemeralOwner, -1);

    this.hashPath(parentPath);
    this.metaTerm(parent, -1);
    parent.children!.delete(node);
    if (parent.children!.size === 0) parent.children = null;
    // ZooKeeper moves pzxid forward only: a delete never bumps the parent's cversion.
    if (zxid > parent.pzxid) parent.pzxid = zxid;
    this.metaTerm(parent, 1);
  }

  /** @internal */
  setNodeData(
    path: string,
    node: Znode,
    data: Uint8Array,
    version: number,
    zxid: bigint,
    time: number,
  ): void {
    const bytes = storeBytes(data);
    this.hashPath(path);
    this.dataTerm(node.stored, -1);
    this.metaTerm(node, -1);
    this._approximateDataBytes += bytes.length - node.stored.length;
    node.stored = bytes;
    node.version = version;
    node.mzxid = zxid;
    node.mtime = time;
    this.dataTerm(bytes, 1);
    this.metaTerm(node, 1);
  }

  /** @internal */
  setNodeAcl(path: string, node: Znode, acl: readonly ACL[], aversion: number): void {
    this.hashPath(path);
    this.metaTerm(node, -1);
    const entry = this.acls.acquire(acl);
    this.acls.release(node.acl);
    node.acl = entry;
    node.aversion = aversion;
    this.metaTerm(node, 1);
  }

  /**
   * @internal Restores one node from a snapshot: the parent must already be loaded. Stat fields
   * are taken as given; numChildren follows from the children loaded after it.
   */
  loadNode(path: string, node: Znode): void {
    if (path === '/') {
      const root = this.nodes.get('/')!;
      this.hashPath('/');
      this.dataTerm(root.stored, -1);
      this.metaTerm(root, -1);
      this.acls.release(root.acl);
      this._approximateDataBytes += node.stored.length - root.stored.length;
      this.nodes.set('/', node);
      this.dataTerm(node.stored, 1);
      this.metaTerm(node, 1);
      return;
    }
    const slash = path.lastIndexOf('/');
    // Siblings arrive together (creation order), so the previous parent is usually this one's:
    // comparing the prefix is cheaper than slicing and hashing the parent path again.
    let parent = this.loadParent;
    if (parent === null || slash !== this.loadParentLength || !path.startsWith(parent.path)) {
      parent = this.nodes.get(slash === 0 ? '/' : path.slice(0, slash)) ?? null;
      if (parent === null) throw new Error(`invariant: snapshot holds ${path} before its parent`);
      this.loadParent = parent;
      this.loadParentLength = slash === 0 ? 0 : parent.path.length;
    }
    const size = this.nodes.size;
    this.nodes.set(path, node);
    if (this.nodes.size === size) throw new Error(`invariant: snapshot holds ${path} twice`);
    this._approximateDataBytes += path.length + node.stored.length;
    if (parent.children === null) parent.children = new Set();
    parent.children.add(node);
    this.hashPath(path);
    this.dataTerm(node.stored, 1);
    this.metaTerm(node, 1);
    this.index(path, node.ephemeralOwner, 1);
  }

  /** @internal An interned ACL entry for a node being loaded. */
  acquireAcl(acl: readonly ACL[]): AclEntry {
    return this.acls.acquire(acl);
  }

  // ---- indexes and digest -------------------------------------------------------------------

  private index(path: string, owner: bigint, sign: 1 | -1): void {
    if (owner === 0n) return;
    let set: Set<string> | undefined;
    if (owner === CONTAINER_EPHEMERAL_OWNER) set = this.containers;
    else if ((BigInt.asUintN(64, owner) & TTL_EPHEMERAL_OWNER_MASK) === TTL_EPHEMERAL_OWNER_MASK)
      set = this.ttls;
    else {
      set = this.ephemerals.get(owner);
      if (set === undefined) {
        if (sign < 0) return;
        set = new Set();
        this.ephemerals.set(owner, set);
      }
    }
    const isEphemeral = set !== this.containers && set !== this.ttls;
    const before = set.size;
    if (sign > 0) set.add(path);
    else {
      set.delete(path);
      if (set.size === 0 && isEphemeral) this.ephemerals.delete(owner);
    }
    if (isEphemeral) this._ephemeralCount += set.size - before;
  }

  private hashPath(path: string): void {
    const h = this.hasher.begin(0).str(path);
    this.pa = h.a;
    this.pb = h.b;
  }

  private dataTerm(data: StoredData, sign: 1 | -1): void {
    const h = this.hasher.from(this.pa, this.pb, SEED_DATA).stored(data);
    if (sign > 0) this.digestSum.add(h.endA(), h.endB());
    else this.digestSum.sub(h.endA(), h.endB());
  }

  private metaTerm(n: Znode, sign: 1 | -1): void {
    const h = this.hasher
      .from(this.pa, this.pb, SEED_META)
      .big(n.czxid)
      .big(n.mzxid)
      .big(n.pzxid)
      .num(n.ctime)
      .num(n.mtime)
      .num(n.version)
      .num(n.cversion)
      .num(n.aversion)
      .big(n.ephemeralOwner)
      .num(n.acl.hashA)
      .num(n.acl.hashB);
    if (sign > 0) this.digestSum.add(h.endA(), h.endB());
    else this.digestSum.sub(h.endA(), h.endB());
  }
}
