import type { ACL } from '@conclave/core';
import { Hasher, SEED_ACL } from './digest.js';

/**
 * Interned ACL lists, reference counted (ZooKeeper's ReferenceCountedACLCache): most trees use a
 * handful of distinct ACLs, so a node holds a pointer to a shared, frozen entry instead of its own
 * list. The entry also caches the ACL's digest contribution.
 */
export class AclEntry {
  refs = 0;
  constructor(
    readonly acl: readonly ACL[],
    readonly key: string,
    readonly hashA: number,
    readonly hashB: number,
  ) {}
}

export class AclCache {
  private readonly byKey = new Map<string, AclEntry>();
  // Same-array fast path: callers that reuse one ACL array (constants, tests, benches) skip the key.
  private readonly byArray = new WeakMap<readonly ACL[], AclEntry>();
  private readonly hasher = new Hasher();

  /** Takes a reference on the entry for `acl` (creating it on first use). */
  acquire(acl: readonly ACL[]): AclEntry {
    let entry = this.byArray.get(acl);
    if (entry === undefined || entry.refs === 0) {
      const key = aclKey(acl);
      entry = this.byKey.get(key);
      if (entry === undefined) {
        const frozen = Object.freeze(
          acl.map((a) =>
            Object.freeze({ perms: a.perms, id: Object.freeze({ scheme: a.id.scheme, id: a.id.id }) }),
          ),
        );
        const h = this.hasher.begin(SEED_ACL).str(key);
        entry = new AclEntry(frozen, key, h.endA(), h.endB());
        this.byKey.set(key, entry);
        this.byArray.set(frozen, entry);
      }
      // Only frozen lists (constants, the shared world lists of fixupAcl) are remembered by
      // identity: a list decoded from a request is new every time, and a WeakMap entry per create
      // would only make work for the garbage collector.
      if (Object.isFrozen(acl)) this.byArray.set(acl, entry);
    }
    entry.refs++;
    return entry;
  }

  release(entry: AclEntry): void {
    if (entry.refs <= 0) throw new Error(`invariant: ACL ${entry.key} released more often than acquired`);
    entry.refs--;
    if (entry.refs === 0) this.byKey.delete(entry.key);
  }

  /** Distinct ACLs in use. */
  get size(): number {
    return this.byKey.size;
  }

  entries(): IterableIterator<AclEntry> {
    return this.byKey.values();
  }

  clear(): void {
    this.byKey.clear();
  }
}

/** A canonical string for an ACL list (order matters, as in ZooKeeper). */
export function aclKey(acl: readonly ACL[]): string {
  let key = '';
  for (const a of acl) key += `${a.perms}\u0001${a.id.scheme}\u0001${a.id.id}\u0002`;
  return key;
}
