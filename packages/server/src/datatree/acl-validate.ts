import { type ACL, type Id, InvalidACLError, Limits, Perms } from '@conclave/core';
import { parseIpAcl } from './ip-address.js';

/**
 * Checks and normalizes the ACL of a create or setACL, as ZooKeeper's PrepRequestProcessor.fixupACL:
 * duplicates are dropped, an empty list is refused, `auth` entries are replaced by the caller's
 * authenticated ids (digest ones: `ip` and `super` are not "authenticated" ids in ZooKeeper's
 * sense), and every other entry must use a known scheme with a well-formed id.
 * Throws InvalidACLError naming the offending entry.
 */
export function fixupAcl(path: string, acl: readonly ACL[], authIds: readonly Id[]): ACL[] {
  const world = worldAcl(acl);
  if (world !== undefined) return world;
  if (!Array.isArray(acl) || acl.length === 0) {
    throw new InvalidACLError('the ACL is empty: give at least one entry (e.g. OPEN_ACL_UNSAFE)', path);
  }
  if (acl.length > Limits.maxAclEntries) {
    throw new InvalidACLError(
      `the ACL has ${acl.length} entries; at most ${Limits.maxAclEntries} are allowed`,
      path,
    );
  }
  const out: ACL[] = [];
  const seen = new Set<string>();
  const push = (perms: number, id: Id): void => {
    const key = `${perms}\u0000${id.scheme}\u0000${id.id}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ perms, id: { scheme: id.scheme, id: id.id } });
  };
  for (const entry of acl) {
    const problem = entryProblem(entry);
    if (problem !== undefined) throw new InvalidACLError(problem, path);
    const { scheme, id } = entry.id;
    if (scheme === 'auth') {
      let expanded = false;
      for (const cid of authIds) {
        if (cid.scheme === 'digest') {
          push(entry.perms, cid);
          expanded = true;
        }
      }
      if (!expanded) {
        throw new InvalidACLError(
          "an 'auth' ACL entry needs an authenticated session: call addAuth('digest', 'user:password') first",
          path,
        );
      }
    } else {
      const idProblem = idValidity(scheme, id);
      if (idProblem !== undefined) throw new InvalidACLError(idProblem, path);
      push(entry.perms, entry.id);
    }
  }
  return out;
}

/**
 * One frozen `[{ perms, world:anyone }]` list per perms value. Nearly every create carries such an
 * ACL (OPEN_ACL_UNSAFE, READ_ACL_UNSAFE); answering it with a shared list allocates nothing here,
 * and lets the tree's ACL cache recognise the list by identity instead of building its key.
 * Frozen: a txn's ACL is never mutated, and this makes sure of it.
 */
const WORLD_ACLS: readonly ACL[][] = Array.from(
  { length: Perms.ALL + 1 },
  (_, perms) =>
    Object.freeze([Object.freeze({ perms, id: Object.freeze({ scheme: 'world', id: 'anyone' }) })]) as ACL[],
);

/** The shared list for a valid single world:anyone entry, else undefined (the general path decides). */
function worldAcl(acl: readonly ACL[]): ACL[] | undefined {
  if (!Array.isArray(acl) || acl.length !== 1) return undefined;
  const entry = acl[0] as ACL | null | undefined;
  if (entry === null || typeof entry !== 'object') return undefined;
  const id = entry.id as Id | null | undefined;
  if (id === null || typeof id !== 'object' || id.scheme !== 'world' || id.id !== 'anyone') return undefined;
  const perms = entry.perms;
  if (!Number.isInteger(perms) || perms < 0 || perms > Perms.ALL) return undefined;
  return WORLD_ACLS[perms];
}

function entryProblem(entry: ACL): string | undefined {
  if (entry === null || typeof entry !== 'object')
    return 'an ACL entry must be { perms, id: { scheme, id } }';
  if (!Number.isInteger(entry.perms) || entry.perms < 0 || entry.perms > Perms.ALL) {
    return `ACL perms ${String(entry.perms)} are not a combination of READ|WRITE|CREATE|DELETE|ADMIN (0..31)`;
  }
  const id = entry.id as Id | undefined;
  if (id === null || typeof id !== 'object' || typeof id.scheme !== 'string' || typeof id.id !== 'string') {
    return 'an ACL entry needs an id { scheme, id } of strings';
  }
  return undefined;
}

function idValidity(scheme: string, id: string): string | undefined {
  switch (scheme) {
    case 'world':
      return id === 'anyone'
        ? undefined
        : `the world scheme only knows the id 'anyone', not ${JSON.stringify(id)}`;
    case 'digest': {
      const colon = id.indexOf(':');
      return colon > 0 && colon < id.length - 1 && id.indexOf(':', colon + 1) < 0
        ? undefined
        : `a digest id must be 'user:base64hash' (see digestId()), not ${JSON.stringify(id)}`;
    }
    case 'ip':
      return parseIpAcl(id) !== undefined
        ? undefined
        : `an ip id must be an IPv4/IPv6 address or CIDR network, not ${JSON.stringify(id)}`;
    default:
      return `unknown ACL scheme ${JSON.stringify(scheme)}: use world, auth, digest or ip`;
  }
}
