import { unprotected } from './names.js';

/**
 * Ordering of sequential znodes. ZooKeeper appends the parent's cversion as ten characters
 * (`%010d` of a signed 32-bit counter: '0000000042', or '-000000001' after overflow), so within
 * one parent the suffix orders creation. Names carry a protected prefix (a GUID, see names.ts)
 * that differs per creator, so we sort by the suffix, never by the whole name.
 */

/** Length of the suffix ZooKeeper appends to a sequential node's name. */
export const SEQUENCE_DIGITS = 10;

/** A sequence suffix: ten digits, or after overflow '-' and nine digits. */
const SUFFIX = /^-?\d+$/;

/** The sequence number the server appended to a sequential node's name (or path); NaN if none. */
export function sequenceOf(name: string): number {
  if (name.length < SEQUENCE_DIGITS) return Number.NaN;
  const suffix = name.slice(-SEQUENCE_DIGITS);
  return SUFFIX.test(suffix) ? Number.parseInt(suffix, 10) : Number.NaN;
}

/** Sort by sequence suffix: the order in which the server accepted the creates. */
export function bySequence(a: string, b: string): number {
  return sequenceOf(a) - sequenceOf(b);
}

/** A queue entry: the child name, its sequence number and its kind (the name part before the suffix). */
export interface QueueNode {
  readonly name: string;
  readonly sequence: number;
  /** e.g. 'lock', 'read', 'write', 'lease', 'member' — the prefix given at creation, without dashes. */
  readonly kind: string;
}

/** Parses one child name; undefined when it is not a sequential node (such children are ignored). */
export function parseQueueNode(name: string): QueueNode | undefined {
  if (name.length <= SEQUENCE_DIGITS) return undefined;
  const sequence = sequenceOf(name);
  if (Number.isNaN(sequence)) return undefined;
  const stem = unprotected(name.slice(0, -SEQUENCE_DIGITS));
  const kind = stem.endsWith('-') ? stem.slice(0, -1) : stem;
  return { name, sequence, kind };
}

/** The sequential children among `names`, in creation order. */
export function sortQueue(names: readonly string[]): QueueNode[] {
  const out: QueueNode[] = [];
  for (const name of names) {
    const node = parseQueueNode(name);
    if (node !== undefined) out.push(node);
  }
  // Ties cannot happen within one parent; the name is a deterministic tie-break anyway.
  out.sort((a, b) => a.sequence - b.sequence || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return out;
}
