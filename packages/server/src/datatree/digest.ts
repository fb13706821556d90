/**
 * The incremental tree digest: every znode (and every session) contributes a hash, and the digest
 * is the sum of all contributions in two 30-bit lanes (60 bits in all). A change subtracts the old
 * contribution and adds the new one, so `value` is O(1) and a replica that applied the same txns
 * holds the same digest — the idea of ZooKeeper's DigestCalculator (there: CRC32 summed into a long).
 *
 * Why two 30-bit lanes rather than one 64-bit sum: the lanes stay small integers (V8 Smis), so the
 * hot path never allocates a bigint or a heap number.
 *
 * A node contributes two independent terms so that a child create (which changes the parent's
 * cversion/pzxid) never has to rehash the parent's data:
 *  - the data term: hash(path, data), changed by create/delete/setData;
 *  - the meta term: hash(path, stat fields, ACL), changed by any stat change.
 */

const LANE_MASK = 0x3fffffff;
const P1 = 0x01000193; // FNV prime
const P2 = 0x5bd1e995; // murmur2 multiplier

/** A pair of 30-bit lane values. */
export interface Hash2 {
  a: number;
  b: number;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** Hash state threaded through the helpers below (reused to avoid allocation on the hot path). */
export class Hasher {
  a = 0;
  b = 0;

  begin(seed: number): this {
    this.a = 0x811c9dc5 ^ seed;
    this.b = 0x9747b28c ^ Math.imul(seed, 0x27d4eb2d);
    return this;
  }

  /** Continues from a saved path-hash state under a different seed (one path hash, several terms). */
  from(a: number, b: number, seed: number): this {
    this.a = a ^ Math.imul(seed, 0x9e3779b1);
    this.b = b ^ Math.imul(seed, 0x85ebca77);
    return this;
  }

  str(s: string): this {
    let a = this.a;
    let b = this.b;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      a = Math.imul(a ^ c, P1);
      b = Math.imul(b ^ c, P2);
      b ^= b >>> 15;
    }
    this.a = a;
    this.b = b;
    return this;
  }

  bytes(d: Uint8Array): this {
    let a = this.a;
    let b = this.b;
    const n = d.length;
    for (let i = 0; i < n; i++) {
      const c = d[i]!;
      a = Math.imul(a ^ c, P1);
      b = Math.imul(b ^ c, P2);
      b ^= b >>> 15;
    }
    // The length too, so [] and [0] differ in a way that does not depend on the lane mixing.
    this.a = Math.imul(a ^ n, P1);
    this.b = Math.imul(b ^ n, P2);
    return this;
  }

  /** Stored znode data (bytes, or a latin1 string of the same bytes): hashed identically either way. */
  stored(d: string | Uint8Array): this {
    if (typeof d !== 'string') return this.bytes(d);
    let a = this.a;
    let b = this.b;
    const n = d.length;
    for (let i = 0; i < n; i++) {
      const c = d.charCodeAt(i);
      a = Math.imul(a ^ c, P1);
      b = Math.imul(b ^ c, P2);
      b ^= b >>> 15;
    }
    this.a = Math.imul(a ^ n, P1);
    this.b = Math.imul(b ^ n, P2);
    return this;
  }

  /** Any finite number (ints, ms timestamps): hashed as two 32-bit halves. */
  num(x: number): this {
    const lo = x >>> 0;
    const hi = Math.floor(x / 4294967296) | 0;
    this.a = Math.imul(Math.imul(this.a ^ lo, P1) ^ hi, P1);
    this.b = Math.imul(Math.imul(this.b ^ lo, P2) ^ hi, P2);
    this.b ^= this.b >>> 15;
    return this;
  }

  /**
   * A 64-bit id (zxid, session id). Number(bigint) rounds above 2^53, which loses nothing that
   * matters for a digest: the mapping is still deterministic on every replica.
   */
  big(x: bigint): this {
    // One-entry cache: a node's czxid, mzxid and pzxid are often the same zxid, and
    // Number(bigint) is a runtime call.
    if (x !== this.lastBig) {
      this.lastBig = x;
      this.lastNum = Number(x);
    }
    return this.num(this.lastNum);
  }

  private lastBig = 0n;
  private lastNum = 0;

  end(): Hash2 {
    return { a: fmix(this.a) & LANE_MASK, b: fmix(this.b ^ 0x68e31da4) & LANE_MASK };
  }

  endA(): number {
    return fmix(this.a) & LANE_MASK;
  }

  endB(): number {
    return fmix(this.b ^ 0x68e31da4) & LANE_MASK;
  }
}

/** Seeds that keep the kinds of contribution apart. */
export const SEED_DATA = 0x1d;
export const SEED_META = 0x2e;
export const SEED_SESSION = 0x3f;
export const SEED_ACL = 0x4a;

/** The running sum. */
export class TreeDigest {
  private a = 0;
  private b = 0;

  add(a: number, b: number): void {
    this.a = (this.a + a) & LANE_MASK;
    this.b = (this.b + b) & LANE_MASK;
  }

  sub(a: number, b: number): void {
    this.a = (this.a - a) & LANE_MASK;
    this.b = (this.b - b) & LANE_MASK;
  }

  /** 16 hex digits: the two 30-bit lanes, each as 8 digits. */
  hex(): string {
    return this.a.toString(16).padStart(8, '0') + this.b.toString(16).padStart(8, '0');
  }

  /** The digest of this sum plus another one (tree + sessions). */
  hexPlus(other: TreeDigest): string {
    const a = (this.a + other.a) & LANE_MASK;
    const b = (this.b + other.b) & LANE_MASK;
    return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
  }

  reset(): void {
    this.a = 0;
    this.b = 0;
  }
}
