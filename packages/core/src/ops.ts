import type { ACL } from './acl.js';
import type { CreateModeFlag } from './create-mode.js';
import type { Stat } from './stat.js';
import type { Zxid } from './zxid.js';

/**
 * Client requests and their results, as they travel on the wire (CBOR maps). A request frame is
 * `{ xid, ...Request }`, a response `{ xid, zxid, err, ...Result }`; see protocol.ts.
 */

export interface CreateRequest {
  op: 'create';
  path: string;
  data: Uint8Array;
  acl: ACL[];
  mode: CreateModeFlag;
  /** Required for the TTL modes, forbidden otherwise. */
  ttlMs?: number;
}
export interface DeleteRequest {
  op: 'delete';
  path: string;
  /** -1 matches any version. */
  version: number;
}
export interface ExistsRequest {
  op: 'exists';
  path: string;
  watch: boolean;
}
export interface GetDataRequest {
  op: 'getData';
  path: string;
  watch: boolean;
}
export interface SetDataRequest {
  op: 'setData';
  path: string;
  data: Uint8Array;
  version: number;
}
export interface GetACLRequest {
  op: 'getACL';
  path: string;
}
export interface SetACLRequest {
  op: 'setACL';
  path: string;
  acl: ACL[];
  version: number;
}
export interface GetChildrenRequest {
  op: 'getChildren';
  path: string;
  watch: boolean;
}
export interface SyncRequest {
  op: 'sync';
  path: string;
}
export interface CheckRequest {
  op: 'check';
  path: string;
  version: number;
}
export interface MultiRequest {
  op: 'multi';
  ops: MultiOp[];
}
export interface PingRequest {
  op: 'ping';
}
export interface AuthRequest {
  op: 'auth';
  /** 'digest' takes `user:password`. */
  scheme: string;
  auth: Uint8Array;
}
/** Re-registers a session's watches after a reconnect; the server fires what changed after `relativeZxid`. */
export interface SetWatchesRequest {
  op: 'setWatches';
  relativeZxid: Zxid;
  dataWatches: string[];
  existWatches: string[];
  childWatches: string[];
  persistentWatches: string[];
  persistentRecursiveWatches: string[];
}
export type AddWatchMode = 'PERSISTENT' | 'PERSISTENT_RECURSIVE';
export interface AddWatchRequest {
  op: 'addWatch';
  path: string;
  mode: AddWatchMode;
}
/** ZooKeeper's WatcherType names. */
export type WatcherType = 'children' | 'data' | 'any' | 'persistent' | 'persistentRecursive';
export interface RemoveWatchesRequest {
  op: 'removeWatches';
  path: string;
  type: WatcherType;
}
export interface CloseSessionRequest {
  op: 'closeSession';
}
export interface GetEphemeralsRequest {
  op: 'getEphemerals';
  /** Only ephemerals whose path starts with this prefix. */
  prefix: string;
}
export interface GetAllChildrenNumberRequest {
  op: 'getAllChildrenNumber';
  path: string;
}
export interface WhoAmIRequest {
  op: 'whoAmI';
}

export type MultiOp = CreateRequest | DeleteRequest | SetDataRequest | CheckRequest;

export type Request =
  | CreateRequest
  | DeleteRequest
  | ExistsRequest
  | GetDataRequest
  | SetDataRequest
  | GetACLRequest
  | SetACLRequest
  | GetChildrenRequest
  | SyncRequest
  | CheckRequest
  | MultiRequest
  | PingRequest
  | AuthRequest
  | SetWatchesRequest
  | AddWatchRequest
  | RemoveWatchesRequest
  | CloseSessionRequest
  | GetEphemeralsRequest
  | GetAllChildrenNumberRequest
  | WhoAmIRequest;

export type OpName = Request['op'];

/** Ops that change state and therefore go through the leader and the log. */
export const WRITE_OPS: ReadonlySet<OpName> = new Set<OpName>([
  'create',
  'delete',
  'setData',
  'setACL',
  'check',
  'multi',
  'closeSession',
]);

export interface CreateResult {
  path: string;
  stat: Stat;
}
export interface ExistsResult {
  stat: Stat;
}
export interface GetDataResult {
  data: Uint8Array;
  stat: Stat;
}
export interface SetDataResult {
  stat: Stat;
}
export interface GetACLResult {
  acl: ACL[];
  stat: Stat;
}
export interface SetACLResult {
  stat: Stat;
}
export interface GetChildrenResult {
  children: string[];
  stat: Stat;
}
export interface SyncResult {
  path: string;
}
export interface GetEphemeralsResult {
  paths: string[];
}
export interface GetAllChildrenNumberResult {
  count: number;
}
export interface WhoAmIResult {
  ids: { scheme: string; id: string }[];
}

/** One op's outcome inside a multi: as ZooKeeper, a failed multi reports every op as an error. */
export type MultiResult =
  | { op: 'create'; path: string; stat: Stat }
  | { op: 'delete' }
  | { op: 'setData'; stat: Stat }
  | { op: 'check' }
  | { op: 'error'; err: number };

export interface MultiResponseResult {
  results: MultiResult[];
}
