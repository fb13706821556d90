import { randomUUID } from 'node:crypto';

/**
 * Protected names. A create can succeed on the server while its reply is lost (CONNECTIONLOSS);
 * retrying blindly would leave a second node — an orphan lock node that blocks everyone behind it
 * until our session ends, a duplicate queue item, a leaked id ticket. So every such node carries
 * a fresh GUID in its name, and a retry first looks for a child carrying our GUID: if it is there,
 * the first attempt worked.
 *
 * Two layouts are in use (node names are a wire format: changing one would strand nodes written
 * by the other):
 * - queue entries of the locks, semaphore leases and election members (ProtectedNode):
 *   `_c_<uuid with dashes>-<kind>-<seq>` — Curator's protected prefix, which parseQueueNode strips;
 * - queue items and id tickets: `<prefix><guid without dashes>-<seq>` (newGuid, findByGuid), where
 *   the dashes are field separators.
 */

/** The protected prefix of a queue entry: `_c_` and a dashed UUID, then '-'. */
export const PROTECTED_PREFIX = /^_c_[0-9a-f-]{36}-/;

/** The name prefix of a protected queue entry of `kind`, created with GUID `uuid` (a dashed UUID). */
export function protectedPrefix(uuid: string, kind: string): string {
  return `_c_${uuid}-${kind}-`;
}

/** A fresh GUID for a queue item or ticket name: 32 hex digits, no dashes. */
export function newGuid(): string {
  // Dashes are our field separator in node names, so drop them from the UUID.
  return randomUUID().replaceAll('-', '');
}

/** Children whose name contains `guid` (our node after a retried create), if any. */
export function findByGuid(children: readonly string[], guid: string): string | undefined {
  return children.find((c) => c.includes(guid));
}
