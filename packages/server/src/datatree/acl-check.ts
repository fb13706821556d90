import { createHash } from 'node:crypto';
import { type ACL, AuthFailedError, type Id } from '@conclave/core';
import { ipMatches } from './ip-address.js';

/**
 * ACL evaluation, as ZooKeeper's ZooKeeperServer.checkACL: an empty ACL allows everything, the
 * super user is allowed everything, otherwise some entry carrying the permission bit must match
 * one of the caller's authenticated ids (`world:anyone` matches everyone, `ip` matches the
 * client's address, `digest` matches a `digest` id obtained through addAuth).
 */

/** The id ZooKeeper gives the super user; a session holding it bypasses every ACL. */
export const SUPER_ID: Id = Object.freeze({ scheme: 'super', id: '' });

/**
 * ZooKeeper's digest id: `user:base64(sha1("user:password"))`
 * (DigestAuthenticationProvider.generateDigest). digestId('super', 'test') is
 * 'super:D/InIHSb7yEEbrWz8b9l71RjZJU='.
 */
export function digestId(user: string, password: string): string {
  const hash = createHash('sha1').update(`${user}:${password}`, 'utf8').digest('base64');
  return `${user}:${hash}`;
}

/**
 * The ids a session gains from `addAuth(scheme, auth)`. Only `digest` (`user:password`) can be
 * added explicitly; `ip` comes from the connection. When the digest equals `superDigest`
 * (ZooKeeper's zookeeper.DigestAuthenticationProvider.superDigest, e.g.
 * 'super:D/InIHSb7yEEbrWz8b9l71RjZJU=') the session also becomes the super user.
 */
export function authenticate(scheme: string, auth: string | Uint8Array, superDigest?: string): Id[] {
  const text = typeof auth === 'string' ? auth : new TextDecoder().decode(auth);
  if (scheme !== 'digest') {
    throw new AuthFailedError(
      `unsupported auth scheme ${JSON.stringify(scheme)}: use 'digest' with 'user:password'`,
    );
  }
  const colon = text.indexOf(':');
  if (colon <= 0) throw new AuthFailedError("digest auth must be 'user:password'");
  const id = digestId(text.slice(0, colon), text.slice(colon + 1));
  const ids: Id[] = [{ scheme: 'digest', id }];
  if (superDigest !== undefined && id === superDigest) ids.push(SUPER_ID);
  return ids;
}

/** True when the ids include the super user (or, given `superDigest`, the digest id that is super). */
export function isSuper(authIds: readonly Id[], superDigest?: string): boolean {
  for (const a of authIds) {
    if (a.scheme === 'super') return true;
    if (superDigest !== undefined && a.scheme === 'digest' && a.id === superDigest) return true;
  }
  return false;
}

/**
 * May a caller with `authIds` (and connected from `clientIp`) do `perm` on a node with `acl`?
 * `perm` is one Perms bit (or several, all of which one entry must grant).
 */
export function checkPerms(
  acl: readonly ACL[],
  perm: number,
  authIds: readonly Id[],
  clientIp?: string,
): boolean {
  if (acl.length === 0) return true;
  for (const a of authIds) if (a.scheme === 'super') return true;
  for (const entry of acl) {
    if ((entry.perms & perm) !== perm) continue;
    const { scheme, id } = entry.id;
    if (scheme === 'world') {
      if (id === 'anyone') return true;
    } else if (scheme === 'ip') {
      if (clientIp !== undefined && ipMatches(clientIp, id)) return true;
      for (const a of authIds) if (a.scheme === 'ip' && ipMatches(a.id, id)) return true;
    } else {
      for (const a of authIds) if (a.scheme === scheme && a.id === id) return true;
    }
  }
  return false;
}
