import type { Zxid } from './zxid.js';

/** A znode's metadata, field for field as ZooKeeper maintains it. */
export interface Stat {
  /** zxid of the txn that created the node. */
  czxid: Zxid;
  /** zxid of the txn that last changed the node's data (czxid until the first setData). */
  mzxid: Zxid;
  /** zxid of the txn that last added or removed a child (czxid until then). */
  pzxid: Zxid;
  /** Creation time, ms since the epoch, as stamped by the leader. */
  ctime: number;
  /** Time of the last data change, ms since the epoch. */
  mtime: number;
  /** Number of data changes. */
  version: number;
  /** Number of child changes (creates and deletes of children). */
  cversion: number;
  /** Number of ACL changes. */
  aversion: number;
  /** Owning session for an ephemeral; 0 for a persistent node (see ephemeralKind for containers/TTL). */
  ephemeralOwner: bigint;
  dataLength: number;
  numChildren: number;
}

export const STAT_FIELDS = [
  'czxid',
  'mzxid',
  'pzxid',
  'ctime',
  'mtime',
  'version',
  'cversion',
  'aversion',
  'ephemeralOwner',
  'dataLength',
  'numChildren',
] as const satisfies readonly (keyof Stat)[];
