import type { Stat } from '@conclave/core';
import type { AclEntry } from './acl-cache.js';

/**
 * One znode. Kept deliberately flat — one object per node, Stat fields inline, children `null`
 * for a leaf — because a tree holds millions of them (see bench/datatree.bench.ts for the
 * measured bytes per node). `dataLength` and `numChildren` are derived, not stored.
 *
 * `data` is never mutated in place: setData replaces the array. That is what lets a snapshot
 * capture node fields by reference and encode them later (see snapshot-format.ts).
 */
export class Znode {
  /**
   * The child nodes (not their names: each node already holds its path, the same string the map
   * is keyed by, so names cost no extra string per node). null for a leaf.
   */
  children: Set<Znode> | null = null;

  constructor(
    /** The full path: the same string instance as the tree map's key. */
    readonly path: string,
    /** The data, as stored: see {@link storeBytes}. Read it with {@link dataOf}. */
    public stored: StoredData,
    public acl: AclEntry,
    public czxid: bigint,
    public mzxid: bigint,
    public pzxid: bigint,
    public ctime: number,
    public mtime: number,
    public version: number,
    public cversion: number,
    public aversion: number,
    public ephemeralOwner: bigint,
  ) {}

  get numChildren(): number {
    return this.children === null ? 0 : this.children.size;
  }

  get dataLength(): number {
    return this.stored.length;
  }

  /** A fresh Stat (callers may keep or mutate it). */
  stat(): Stat {
    return {
      czxid: this.czxid,
      mzxid: this.mzxid,
      pzxid: this.pzxid,
      ctime: this.ctime,
      mtime: this.mtime,
      version: this.version,
      cversion: this.cversion,
      aversion: this.aversion,
      ephemeralOwner: this.ephemeralOwner,
      dataLength: this.stored.length,
      numChildren: this.children === null ? 0 : this.children.size,
    };
  }
}

/**
 * Znode data as held in memory. Small values (≤ 64 bytes, most coordination data) are kept as a
 * latin1 string — one byte per char, so `length` is the byte count — because a V8 string costs
 * ~48 bytes for 32 bytes of data where a Uint8Array costs ~230: over a million nodes that is most
 * of the per-node memory. Larger values stay a Uint8Array the tree owns. Both are immutable:
 * setData replaces the value, which is what lets a snapshot capture values by reference.
 */
export type StoredData = string | Uint8Array;

/** Values up to this size are stored as latin1 strings. */
const SMALL_BYTES = 64;

const latin1Slice = (Buffer.prototype as unknown as { latin1Slice?: (s: number, e: number) => string })
  .latin1Slice;

/**
 * The form to store `data` in. A view into a larger buffer (what a CBOR decoder hands out: Node
 * Buffers are slices of a shared pool) is always copied, so one node can never pin a network or
 * log buffer; the copy is a plain Uint8Array, never a Buffer (Buffer#slice returns a view).
 */
export function storeBytes(data: Uint8Array): StoredData {
  const n = data.length;
  if (n === 0) return '';
  if (n <= SMALL_BYTES) {
    // latin1Slice reads on-heap typed arrays without forcing V8 to move them off-heap.
    return latin1Slice !== undefined
      ? latin1Slice.call(data, 0, n)
      : String.fromCharCode.apply(null, data as unknown as number[]);
  }
  if (
    data.byteOffset === 0 &&
    data.byteLength === data.buffer.byteLength &&
    data.constructor === Uint8Array
  ) {
    return data;
  }
  return new Uint8Array(data);
}

/** The bytes of stored data: a fresh array for small values, the shared (read-only) one otherwise. */
export function bytesOf(stored: StoredData): Uint8Array {
  if (typeof stored !== 'string') return stored;
  const n = stored.length;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = stored.charCodeAt(i);
  return out;
}

/** The node's data as bytes. */
export function dataOf(node: Znode): Uint8Array {
  return bytesOf(node.stored);
}

/** The basename of a node's path (what getChildren lists). */
export function nameOf(node: Znode): string {
  return node.path.slice(node.path.lastIndexOf('/') + 1);
}
