import { randomUUID } from 'node:crypto';

/**
 * Protected names. A create can succeed on the server while its reply is lost (CONNECTIONLOSS);
 * retrying blindly would leave a second node — an orphan lock node that blocks everyone behind it
 * until our session ends, a duplicate queue item, a leaked id ticket. So every sequential node a
 * recipe creates carries a fresh GUID in its name, and a retry first looks for a child carrying
 * our GUID: if it is there, the first attempt worked.
 *
 * One layout for all of them, Curator's: `_c_<uuid with dashes>-<name>-<seq>`, where `<name>` says
 * what the node is ('lock', 'read', 'write', 'lease', 'member', 'id', or a queue item's
 * `qn-<order fields>`) and `<seq>` is the suffix the server appends.
 */

/** The protected prefix of a name: `_c_` and a dashed UUID, then '-'. */
export const PROTECTED_PREFIX = /^_c_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-/;

/** A fresh GUID for a protected name (a dashed UUID). */
export function newGuid(): string {
  return randomUUID();
}

/** The name prefix of a protected node called `name`, created with GUID `uuid`: `_c_<uuid>-<name>-`. */
export function protectedPrefix(uuid: string, name: string): string {
  return `_c_${uuid}-${name}-`;
}

/** `name` without its protected prefix (unchanged if it has none). */
export function unprotected(name: string): string {
  return name.replace(PROTECTED_PREFIX, '');
}

/** The child created with `prefix` (see protectedPrefix): our node after a retried create, if any. */
export function findProtected(children: readonly string[], prefix: string): string | undefined {
  return children.find((c) => c.startsWith(prefix));
}
